# GPU tests: one gtest binary, ctest label `gpu` (never `cpu`: CI has no GPU; scripts/gpu-check runs these).
file(GLOB FGATTN_GPU_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_executable(fgattn_gpu_tests ${FGATTN_GPU_TESTS})
target_include_directories(fgattn_gpu_tests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(fgattn_gpu_tests PRIVATE fgattn GTest::gtest_main GTest::gmock fmt::fmt)
# Discovery must not run the binary (no GPU on the build machine): list the tests at ctest time instead.
gtest_discover_tests(fgattn_gpu_tests PROPERTIES LABELS gpu DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60)
