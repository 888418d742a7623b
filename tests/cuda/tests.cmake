# GPU tests: one gtest binary, ctest label `gpu` (never `cpu`: CI has no GPU; scripts/gpu-check runs these).
file(GLOB FGATTN_GPU_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_executable(fgattn_gpu_tests ${FGATTN_GPU_TESTS})
target_include_directories(fgattn_gpu_tests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(fgattn_gpu_tests PRIVATE fgattn GTest::gtest_main GTest::gmock fmt::fmt)
# Discovery must not run the binary (no GPU on the build machine): list the tests at ctest time instead.
gtest_discover_tests(fgattn_gpu_tests PROPERTIES LABELS gpu DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60)
# The attention suites again under each way the sm_90a producer loads K/V (FGATTN_KV_LOAD, cuda/attention/params.h).
foreach(mode cp_async tma_runs tma_rows tma_groups)
  add_test(NAME gpu_attention_kv_load_${mode}
           COMMAND fgattn_gpu_tests --gtest_filter=AllBuilt/AttentionSweep.*:AttentionCuda.*)
  set_tests_properties(gpu_attention_kv_load_${mode} PROPERTIES LABELS gpu ENVIRONMENT FGATTN_KV_LOAD=${mode})
endforeach()
# The GPU predictors' device-side row sort and the kernel under the other row schedule (FGATTN_ROW_ORDER, fgattn/row_order.h).
add_test(NAME gpu_row_order_global COMMAND fgattn_gpu_tests --gtest_filter=OracleCuda.*:TopCdfCuda.*:AttentionCuda.*)
set_tests_properties(gpu_row_order_global PROPERTIES LABELS gpu ENVIRONMENT FGATTN_ROW_ORDER=global)
