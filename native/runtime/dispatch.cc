#include "dispatch.h"

namespace fastnorm::runtime {
namespace {

struct IsaEntry {
  const char* name;
  const KernelTable& (*table)();
  bool (*supported)();
};

// Best first. Each entry's kernels were compiled with that ISA's flags only.
const IsaEntry kIsas[] = {
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(FASTNORM_WITHOUT_AVX512)  // (the sanitizer build may leave it out: CMakeLists.txt)
    {"avx512", &avx512::kernelTable,
     [] {
       __builtin_cpu_init();  // libgcc also checks that the OS saves zmm/ymm state
       return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
              __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
     }},
#endif
#if defined(__x86_64__) || defined(_M_X64)
    // F16C: the float16 loads and stores (every AVX2 CPU made has it; one without takes scalar)
    {"avx2", &avx2::kernelTable,
     [] { __builtin_cpu_init(); return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c"); }},
#endif
#if defined(__aarch64__)
    {"neon", &neon::kernelTable, [] { return true; }},
#endif
    {"scalar", &scalar::kernelTable, [] { return true; }},
};

}  // namespace

std::vector<std::string> supportedIsas() {
  std::vector<std::string> names;
  for (const IsaEntry& e : kIsas)
    if (e.supported()) names.emplace_back(e.name);
  return names;
}

IsaChoice chooseKernelTable(const std::string& requested) {
  const IsaEntry* best = nullptr;
  for (const IsaEntry& e : kIsas) {
    if (!e.supported()) continue;
    if (!best) best = &e;
    if (requested.empty() || requested == e.name) return {&e.table(), ""};
  }
  // Unknown, or known but not supported here: take the best supported path below it.
  bool below = false;
  for (const IsaEntry& e : kIsas) {
    if (requested == e.name) below = true;
    else if (below && e.supported())
      return {&e.table(), "FASTNORM_ISA=" + requested + " is not supported by this CPU; using " + e.name};
  }
  std::string known;
  for (const IsaEntry& e : kIsas) known += std::string(known.empty() ? "" : ", ") + e.name;
  return {&best->table(), "FASTNORM_ISA=" + requested + " is not a known ISA (" + known + "); using " + best->name};
}

}  // namespace fastnorm::runtime
