# Applied per target so that third-party headers are not built with our warning set.
function(wis2mon_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion $<$<BOOL:${WIS2MON_WERROR}>:-Werror>
    # GCC 12 at -O3 reports a false -Wrestrict inside std::string concatenation (GCC bug 105329).
    $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
endfunction()
