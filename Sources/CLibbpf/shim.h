/* SPDX-License-Identifier: Apache-2.0 */
#pragma once
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
