{
  # Each kernel source is compiled once per ISA, into its own static library with only that
  # ISA's flags and namespace (FASTNORM_ISA_NS); the addon's own sources get no ISA flags, so
  # the binary loads on any CPU of the architecture and dispatches at run time.
  "variables": {
    "kernel_sources": ["native/kernels/kernel_table.cc", "native/kernels/row_norm.cc", "native/kernels/batch_norm.cc", "native/kernels/group_norm.cc", "native/kernels/convert.cc"],
    "kernel_cflags": ["-fPIC", "-O3", "-ffp-contract=off", "-fno-math-errno", "-std=c++17", "-Wno-maybe-uninitialized", "-Wno-uninitialized"]
  },
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
    "cflags_cc": ["-std=c++17"],
    "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "c++17" }
  },
  "targets": [
    {
      "target_name": "fastnorm",
      "sources": [
        "native/binding/addon.cc",
        "native/binding/output_blocks.cc",
        "native/runtime/dispatch.cc",
        "native/runtime/thread_pool.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-fexceptions", "-O3"],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["kernels_avx512", "kernels_avx2", "kernels_scalar"] }],
        ["target_arch=='arm64'", { "dependencies": ["kernels_neon", "kernels_scalar"] }],
        ["target_arch!='x64' and target_arch!='arm64'", { "dependencies": ["kernels_scalar"] }]
      ]
    },
    {
      "target_name": "kernels_scalar",
      "type": "static_library",
      "sources": ["<@(kernel_sources)"],
      "defines": ["FASTNORM_ISA_NS=scalar"],
      # Where a vector path exists (x64, arm64) the portable path is only the fallback and the
      # determinism reference: -O1, whose compile takes a third of -O2's (group_norm.cc 174 s
      # against about 480 s on 2 cores; -O3 was slower still), at a third of -O2's speed (README);
      # elsewhere it is the only path: -O2. The results are the same IEEE operations at every
      # level (-ffp-contract=off).
      "cflags_cc": ["<@(kernel_cflags)"],
      "conditions": [
        ["target_arch=='x64' or target_arch=='arm64'", { "cflags_cc": ["-O1"] }, { "cflags_cc": ["-O2"] }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "kernels_avx512",
          "type": "static_library",
          "sources": ["<@(kernel_sources)"],
          "defines": ["FASTNORM_ISA_NS=avx512", "FASTNORM_ISA_AVX512"],
          "cflags_cc": ["<@(kernel_cflags)", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl"]
        },
        {
          "target_name": "kernels_avx2",
          "type": "static_library",
          "sources": ["<@(kernel_sources)"],
          "defines": ["FASTNORM_ISA_NS=avx2", "FASTNORM_ISA_AVX2"],
          "cflags_cc": ["<@(kernel_cflags)", "-mavx2", "-mf16c"]
        }
      ]
    }],
    ["target_arch=='arm64'", {
      "targets": [
        {
          "target_name": "kernels_neon",
          "type": "static_library",
          "sources": ["<@(kernel_sources)"],
          "defines": ["FASTNORM_ISA_NS=neon", "FASTNORM_ISA_NEON"],
          "cflags_cc": ["<@(kernel_cflags)"]
        }
      ]
    }]
  ]
}
