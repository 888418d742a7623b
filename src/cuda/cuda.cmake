# sm_90a kernels (included by src/CMakeLists.txt when nvcc exists). Every .cu/.cpp under src/cuda/ (attention/ device
# code, host/ its launch and checks, predict/ and plan/ the GPU predictors and plan helpers) joins the fgattn library,
# with the CUDA parts of other folders (*_cuda.cpp); FGATTN_WITH_CUDA turns on the CUDA dispatch in src/core.
find_package(CUDAToolkit REQUIRED)
file(GLOB_RECURSE FGATTN_CUDA_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_LIST_DIR}/*.cu
  ${CMAKE_CURRENT_LIST_DIR}/*.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../analysis/*_cuda.cpp)
target_sources(fgattn PRIVATE ${FGATTN_CUDA_SOURCES})
target_compile_definitions(fgattn PUBLIC FGATTN_WITH_CUDA)
target_link_libraries(fgattn PUBLIC CUDA::cudart)
# CUTLASS/CuTe headers (pinned): those scripts/setup unpacked into .deps/cutlass, else the build fetches them itself
# from PyPI into the build folder (scripts/fetch_cutlass_headers.py), so a fresh `pip wheel .` needs no manual step.
# CCCL (cuda::ptx) ships with the toolkit.
set(FGATTN_CUTLASS_VERSION 4.2.0.0)
set(FGATTN_CUTLASS_INCLUDE ${PROJECT_SOURCE_DIR}/.deps/cutlass/include)
if(NOT EXISTS ${FGATTN_CUTLASS_INCLUDE}/cute/tensor.hpp)
  set(FGATTN_CUTLASS_INCLUDE ${PROJECT_BINARY_DIR}/_deps/cutlass/include)
endif()
if(NOT EXISTS ${FGATTN_CUTLASS_INCLUDE}/cute/tensor.hpp)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  message(STATUS "fgattn: fetching the CUTLASS/CuTe headers (nvidia-cutlass==${FGATTN_CUTLASS_VERSION})")
  execute_process(COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/fetch_cutlass_headers.py
                          ${FGATTN_CUTLASS_VERSION} ${PROJECT_BINARY_DIR}/_deps/cutlass
                  RESULT_VARIABLE fetch_result)
  if(NOT fetch_result EQUAL 0)
    message(FATAL_ERROR "fgattn: the CUTLASS/CuTe headers (PyPI's nvidia-cutlass==${FGATTN_CUTLASS_VERSION}) could not "
                        "be fetched. Run scripts/setup where PyPI is reachable (it unpacks them into .deps/cutlass), "
                        "or configure with -DFGATTN_ENABLE_CUDA=OFF for the CPU path only.")
  endif()
endif()
target_include_directories(fgattn SYSTEM PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${FGATTN_CUTLASS_INCLUDE}>)
set_target_properties(fgattn PROPERTIES CUDA_ARCHITECTURES OFF CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
# docs/style.md (build flags). The -gencode form (not -arch=sm_90a) keeps wgmma/setmaxnreg assembling on nvcc 13.0.
target_compile_options(fgattn PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:
  -gencode=arch=compute_90a,code=sm_90a -O3 --use_fast_math -DNDEBUG -lineinfo
  -Xptxas=--warn-on-spills --expt-relaxed-constexpr -Xcompiler=-Wall>)
