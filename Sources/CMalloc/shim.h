/* SPDX-License-Identifier: Apache-2.0 */
/* glibc's malloc_trim, which the Glibc module does not bring. */
#pragma once
#include <malloc.h>
