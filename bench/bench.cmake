# fgattn_bench: the CUDA-event benchmark of the attention kernel (scripts/gpu-check runs it on the GPU machine).
add_executable(fgattn_bench ${PROJECT_SOURCE_DIR}/bench/attention_bench.cpp)
target_include_directories(fgattn_bench PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(fgattn_bench PRIVATE fgattn fmt::fmt nlohmann_json::nlohmann_json)
set_target_properties(fgattn_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
