// Chooses this process's kernel table from the CPU's features and FASTNORM_ISA.
#pragma once
#include <string>
#include <vector>

#include "../kernels/kernel_table.h"

namespace fastnorm::runtime {

// ISA names this CPU can run, best first (e.g. {"avx512", "avx2", "scalar"}).
std::vector<std::string> supportedIsas();

struct IsaChoice {
  const KernelTable* table;
  std::string warning;  // non-empty when the requested ISA could not be honoured
};

// The best supported table, or `requested` (an ISA name; empty = best) when the CPU supports
// it. An unknown or unsupported request falls back to the best path below it, with a warning,
// so forcing a path never executes an instruction the CPU lacks.
IsaChoice chooseKernelTable(const std::string& requested);

}  // namespace fastnorm::runtime
