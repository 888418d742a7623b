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
# CUTLASS/CuTe headers unpacked by scripts/setup; CCCL (cuda::ptx) ships with the toolkit.
set(FGATTN_CUTLASS_INCLUDE ${PROJECT_SOURCE_DIR}/.deps/cutlass/include)
if(EXISTS ${FGATTN_CUTLASS_INCLUDE})
  target_include_directories(fgattn SYSTEM PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${FGATTN_CUTLASS_INCLUDE}>)
endif()
set_target_properties(fgattn PROPERTIES CUDA_ARCHITECTURES OFF CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
# docs/style.md (build flags). The -gencode form (not -arch=sm_90a) keeps wgmma/setmaxnreg assembling on nvcc 13.0.
target_compile_options(fgattn PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:
  -gencode=arch=compute_90a,code=sm_90a -O3 --use_fast_math -DNDEBUG -lineinfo
  -Xptxas=--warn-on-spills --expt-relaxed-constexpr -Xcompiler=-Wall>)
