# PMIx: --with-pmix (required), --without-pmix, default: used if found.
# With it, ranks started by srun --mpi=pmix or prterun bootstrap through
# the resource manager's PMIx server (src/bootstrap/store_pmix.c).
AC_ARG_WITH([pmix],
    [AS_HELP_STRING([--with-pmix], [bootstrap through PMIx >= 4 under Slurm (srun --mpi=pmix) or prterun (default: if found)])],
    [], [with_pmix=check])
have_pmix=no
AS_IF([test "x$with_pmix" != xno], [
    PKG_CHECK_MODULES([PMIX], [pmix >= 4.0], [have_pmix=yes], [have_pmix=no])
    AS_IF([test "x$with_pmix" = xyes && test "x$have_pmix" = xno],
        [AC_MSG_ERROR([--with-pmix was given but PMIx >= 4.0 was not found (Debian: apt-get install libpmix-dev)])])])
AS_IF([test "x$have_pmix" = xyes], [AC_DEFINE([WEFT_HAVE_PMIX], [1], [PMIx found: the pmix bootstrap backend is built])])
AM_CONDITIONAL([WEFT_HAVE_PMIX], [test "x$have_pmix" = xyes])
