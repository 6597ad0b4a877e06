# CUDA has no reliable .pc: --with-cuda[=DIR] (required), --without-cuda,
# default: /usr/local/cuda when its headers and runtime are there.
AC_ARG_WITH([cuda],
    [AS_HELP_STRING([--with-cuda@<:@=DIR@:>@], [CUDA toolkit (default: /usr/local/cuda if found)])],
    [], [with_cuda=check])
have_cuda=no
CUDA_CPPFLAGS=
CUDA_LDFLAGS=
CUDA_LIBS=
NVCC=
AS_IF([test "x$with_cuda" != xno], [
    AS_CASE([$with_cuda], [yes|check], [cuda_dir=/usr/local/cuda], [cuda_dir=$with_cuda])
    weft_save_CPPFLAGS=$CPPFLAGS
    weft_save_LDFLAGS=$LDFLAGS
    weft_save_LIBS=$LIBS
    CPPFLAGS="$CPPFLAGS -I$cuda_dir/include"
    LDFLAGS="$LDFLAGS -L$cuda_dir/lib64"
    AS_UNSET([ac_cv_header_cuda_runtime_h])
    AC_CHECK_HEADER([cuda_runtime.h],
        [AC_CHECK_LIB([cudart], [cudaGetDeviceCount], [have_cuda=yes])])
    CPPFLAGS=$weft_save_CPPFLAGS
    LDFLAGS=$weft_save_LDFLAGS
    LIBS=$weft_save_LIBS
    AS_IF([test "x$have_cuda" = xyes], [
        CUDA_CPPFLAGS="-I$cuda_dir/include"
        CUDA_LDFLAGS="-L$cuda_dir/lib64 -Wl,-rpath,$cuda_dir/lib64"
        CUDA_LIBS="-lcudart"
        AC_PATH_PROG([NVCC], [nvcc], [], [$cuda_dir/bin$PATH_SEPARATOR$PATH])
        AC_DEFINE([WEFT_HAVE_CUDA], [1], [CUDA toolkit found])])
    AS_IF([test "x$with_cuda" != xcheck && test "x$have_cuda" != xyes],
        [AC_MSG_ERROR([--with-cuda was given but cuda_runtime.h / libcudart were not found in $cuda_dir])])])
AC_SUBST([CUDA_CPPFLAGS])
AC_SUBST([CUDA_LDFLAGS])
AC_SUBST([CUDA_LIBS])
AC_SUBST([NVCC])
AM_CONDITIONAL([WEFT_HAVE_CUDA], [test "x$have_cuda" = xyes])
