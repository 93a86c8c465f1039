/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Compiling the header with the host compiler runs its _Static_asserts for the host ABI too. */
#include "vigil_abi.h"

const unsigned int vigil_abi_version = VIGIL_ABI_VERSION;
