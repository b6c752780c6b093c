// This ISA's kernel table (compiled once per ISA, like every kernel source).
#include "kernel_table.h"

#include "batch_norm.h"
#include "group_norm.h"
#include "row_norm.h"

namespace fastnorm::FASTNORM_ISA_NS {

#define FASTNORM_STR2(x) #x
#define FASTNORM_STR(x) FASTNORM_STR2(x)
#define FASTNORM_KERNEL_ENTRY_F32(name, Args) &name<float>,
#define FASTNORM_KERNEL_ENTRY_F64(name, Args) &name<double>,

const KernelTable& kernelTable() {
  static const KernelTable table = {
      FASTNORM_STR(FASTNORM_ISA_NS),
      {FASTNORM_KERNEL_LIST(FASTNORM_KERNEL_ENTRY_F32)},
      {FASTNORM_KERNEL_LIST(FASTNORM_KERNEL_ENTRY_F64)},
  };
  return table;
}

}  // namespace fastnorm::FASTNORM_ISA_NS
