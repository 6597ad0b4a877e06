# Criterion runs the test suite: --with-criterion (required),
# --without-criterion, default: used if found.
AC_ARG_WITH([criterion],
    [AS_HELP_STRING([--with-criterion], [build the test suite with Criterion >= 2.4 (default: if found)])],
    [], [with_criterion=check])
have_criterion=no
AS_IF([test "x$with_criterion" != xno], [
    PKG_CHECK_MODULES([CRITERION], [criterion >= 2.4], [have_criterion=yes], [have_criterion=no])
    AS_IF([test "x$with_criterion" = xyes && test "x$have_criterion" = xno],
        [AC_MSG_ERROR([--with-criterion was given but Criterion >= 2.4 was not found (Debian: apt-get install libcriterion-dev)])])])
AM_CONDITIONAL([WEFT_HAVE_CRITERION], [test "x$have_criterion" = xyes])
