# fgattn_bench: the CUDA-event benchmark of the attention kernel (scripts/gpu-check runs it on the GPU machine).
add_executable(fgattn_bench ${PROJECT_SOURCE_DIR}/bench/attention_bench.cpp ${PROJECT_SOURCE_DIR}/bench/generator_plans.cpp)
target_include_directories(fgattn_bench PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(fgattn_bench PRIVATE fgattn fmt::fmt nlohmann_json::nlohmann_json)
set_target_properties(fgattn_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)

# fgattn_bench_predict: the GPU predictors' cost against dense attention in the same run (issue 4).
add_executable(fgattn_bench_predict ${PROJECT_SOURCE_DIR}/bench/predict_cost.cpp)
target_link_libraries(fgattn_bench_predict PRIVATE fgattn fmt::fmt nlohmann_json::nlohmann_json)
target_compile_options(fgattn_bench_predict PRIVATE ${FGATTN_WARNINGS})
set_target_properties(fgattn_bench_predict PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)

# fgattn_bench_diagnose: what bounds the sm_90a kernel (producer-only, consumer-only and 64-key-tile variants).
add_executable(fgattn_bench_diagnose ${PROJECT_SOURCE_DIR}/bench/attention_diagnose.cpp)
target_include_directories(fgattn_bench_diagnose PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(fgattn_bench_diagnose PRIVATE fgattn fmt::fmt nlohmann_json::nlohmann_json)
set_target_properties(fgattn_bench_diagnose PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
