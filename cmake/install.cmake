# `cmake --install <build> [--prefix P]`: the C++ package.
#   P/include/vq/...                    public headers (and the generated vq/version.h)
#   P/lib/libvqcodec.so.X.Y.Z, .a       the library, shared (SONAME libvqcodec.so.X.Y) and static
#   P/bin/vq                            the CLI
#   P/share/vqcodec/models/             the default models and samples, found at run time
#   P/lib/cmake/vqcodec/                find_package(vqcodec): targets vqcodec::vqcodec (shared),
#                                       vqcodec::vqcodec_static, and vqcodec::vqcodec_mpi when
#                                       built with MPI (docs/distributed.md)
#   P/lib/pkgconfig/vqcodec.pc          pkg-config --cflags --libs vqcodec (shared), or
#                  vqcodec-static.pc    ... vqcodec-static (libvqcodec.a and its dependencies)
# The Python package is its own component (bindings/python/CMakeLists.txt).
include(CMakePackageConfigHelpers)

set(VQ_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vqcodec)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/vq DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT devel
        FILES_MATCHING PATTERN "*.h" PATTERN "mpi" EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/include/vq/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vq
        COMPONENT devel)
# vq/mpi/ and libvqcodec_mpi.a only when they were built (VQ_HAVE_MPI).
if(TARGET vqcodec_mpi)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/vq/mpi DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vq COMPONENT devel
          FILES_MATCHING PATTERN "*.h")
  list(APPEND VQ_LIBRARIES vqcodec_mpi)
endif()
install(TARGETS ${VQ_LIBRARIES} EXPORT vqcodecTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT devel
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT devel
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET vq)
  install(TARGETS vq RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/ DESTINATION ${CMAKE_INSTALL_DATADIR}/vqcodec/models
        COMPONENT runtime)
# The build tree is laid out like a prefix for the models: build/apps/vq and the tests find
# build/share/vqcodec/models, a link to the source tree's.
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/share/vqcodec)
file(CREATE_LINK ${PROJECT_SOURCE_DIR}/models ${PROJECT_BINARY_DIR}/share/vqcodec/models SYMBOLIC)

install(EXPORT vqcodecTargets NAMESPACE vqcodec:: DESTINATION ${VQ_CMAKE_DIR} COMPONENT devel)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/vqcodecConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/vqcodecConfig.cmake INSTALL_DESTINATION ${VQ_CMAKE_DIR}
                              PATH_VARS CMAKE_INSTALL_DATADIR)
# 0.x: a minor release may break the API, so only the same major.minor satisfies a request.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/vqcodecConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/vqcodecConfig.cmake ${PROJECT_BINARY_DIR}/vqcodecConfigVersion.cmake
        DESTINATION ${VQ_CMAKE_DIR} COMPONENT devel)

# Relocatable: paths in the .pc file are relative to where it is installed.
file(RELATIVE_PATH VQ_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
foreach(pc vqcodec vqcodec-static)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT devel)
endforeach()
