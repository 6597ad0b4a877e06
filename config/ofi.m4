# libfabric: --with-ofi (required), --without-ofi, default: used if found.
AC_ARG_WITH([ofi],
    [AS_HELP_STRING([--with-ofi], [use libfabric >= 1.17 (default: if found)])],
    [], [with_ofi=check])
have_ofi=no
AS_IF([test "x$with_ofi" != xno], [
    PKG_CHECK_MODULES([LIBFABRIC], [libfabric >= 1.17], [have_ofi=yes], [have_ofi=no])
    AS_IF([test "x$with_ofi" = xyes && test "x$have_ofi" = xno],
        [AC_MSG_ERROR([--with-ofi was given but libfabric >= 1.17 was not found])])])
AS_IF([test "x$have_ofi" = xyes], [AC_DEFINE([WEFT_HAVE_OFI], [1], [libfabric found])])
AM_CONDITIONAL([WEFT_HAVE_OFI], [test "x$have_ofi" = xyes])
