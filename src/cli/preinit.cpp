// Registers the address-space check (memory_limit.hpp) in the executable's .preinit_array: the
// dynamic loader runs it before any shared library's constructor (OpenBLAS's would hang under a
// low ulimit -v). Only an executable may have a .preinit_array, so this lives here and not in
// precsweep_core (which may be a shared library).
// Deliberately leaves out: everything else; the check itself is src/memory_limit.cpp.
#include "precsweep/memory_limit.hpp"

__attribute__((section(".preinit_array"), used)) void (*const precsweep_preinit_check)(
    int, char**, char**) = precsweep::check_address_space_limit;
