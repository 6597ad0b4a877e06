# UCX: --with-ucx (required), --without-ucx, default: used if found.
# Debian ships no "ucp" pkg-config module: "ucx" pulls in ucp, uct, ucs.
AC_ARG_WITH([ucx],
    [AS_HELP_STRING([--with-ucx], [use UCX >= 1.13 (default: if found)])],
    [], [with_ucx=check])
have_ucx=no
AS_IF([test "x$with_ucx" != xno], [
    PKG_CHECK_MODULES([UCX], [ucx >= 1.13], [have_ucx=yes], [have_ucx=no])
    AS_IF([test "x$with_ucx" = xyes && test "x$have_ucx" = xno],
        [AC_MSG_ERROR([--with-ucx was given but UCX >= 1.13 was not found])])])
AS_IF([test "x$have_ucx" = xyes], [AC_DEFINE([WEFT_HAVE_UCX], [1], [UCX found])])
AM_CONDITIONAL([WEFT_HAVE_UCX], [test "x$have_ucx" = xyes])
