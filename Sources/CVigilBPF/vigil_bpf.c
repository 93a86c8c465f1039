#include "vigil_bpf.h"
