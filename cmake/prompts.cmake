# Embeds prompts/*.txt and prompts/manifest.json into the library as a generated source file,
# so the binary carries its templates and a golden test can compare both.
function(hyperalign_embed_prompts target)
    file(GLOB prompt_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/prompts/*.txt
         ${PROJECT_SOURCE_DIR}/prompts/*.json)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_prompts.cpp)
    add_custom_command(
        OUTPUT ${out}
        COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DDIR=${PROJECT_SOURCE_DIR}/prompts
                -P ${PROJECT_SOURCE_DIR}/cmake/embed_prompts.cmake
        DEPENDS ${prompt_files} ${PROJECT_SOURCE_DIR}/cmake/embed_prompts.cmake
        COMMENT "Embedding prompt templates")
    target_sources(${target} PRIVATE ${out})
endfunction()
