# Injected into llama.cpp's configure (CMAKE_PROJECT_INCLUDE) by labdocs/lab/llamacpp_build.py: a unity build
# compiles batches of files as one, and these files cannot share a batch with others: common/json.cpp
# specializes templates another file of its batch has already instantiated; mtmd's helpers refuse to see
# mtmd's internal headers. Deferred to the end of the top-level directory, when every subdirectory is known.
include_guard(GLOBAL)
function(labdocs_unity_exclusions)
    set_source_files_properties("${CMAKE_SOURCE_DIR}/common/json.cpp"
        DIRECTORY "${CMAKE_SOURCE_DIR}/common" PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
    set_source_files_properties("${CMAKE_SOURCE_DIR}/tools/mtmd/mtmd-helper.cpp"
                                "${CMAKE_SOURCE_DIR}/tools/mtmd/mtmd-helper-gen.cpp"
        DIRECTORY "${CMAKE_SOURCE_DIR}/tools/mtmd" PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL labdocs_unity_exclusions)
