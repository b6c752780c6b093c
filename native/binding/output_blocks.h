// Large output buffers from a bounded cache of recycled blocks (see output_blocks.cc).
#pragma once

#include <napi.h>

#include <cstddef>

namespace fastnorm::binding {

struct OutputBlockStats {
  size_t live;    // bytes handed to JavaScript and not yet finalized
  size_t idle;    // bytes cached for reuse
  double reused;  // allocations served from the cache
  double fresh;   // allocations that mapped a new block
  double refused; // allocations refused (live cap reached): the caller falls back
};

// An ArrayBuffer of `bytes` (not zeroed: a recycled block holds an earlier output's values),
// or undefined when the live cap is reached.
Napi::Value allocateOutputBlock(Napi::Env env, size_t bytes);
OutputBlockStats outputBlockStats(bool reset);

}  // namespace fastnorm::binding
