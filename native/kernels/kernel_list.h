// THE list of kernels and of their arguments. Everything that knows a kernel's arguments is
// made from it: the argument structs, the kernel declarations and each ISA's table
// (kernel_table.h/.cc), the binding's unpacking and memory checks (binding/kernel_args.h) and
// its `_kernelSchema()` test hook, which a test compares with the TypeScript schemas (the
// `KernelSchema` of each op in src/api): so the two lists cannot drift apart unnoticed.
// ISA-independent: plain data and macros.
//
// FASTNORM_KERNELS(X) names every kernel; FASTNORM_ARGS_<name>(X) lists its arguments in the
// order JavaScript passes them, one row X(KIND, name, ...) each:
//   X(IN, name, dtype, presence, "length", "label")          a typed array the kernel reads
//   X(OUT, name, dtype, presence, "length", "label", "alias") a typed array it writes; "alias":
//                                                             the input it may be exactly (in place), or ""
//   X(INOUT, name, dtype, presence, "length", "label")       read and updated in place (running stats)
//   X(SIZE, name, "divides")                                 a size (a non-negative integer); "divides":
//                                                             the size it must be ≥ 1 and divide, or ""
//   X(NUMBER, name)                                          a double
//   X(FLAG, name)                                            a boolean
//   X(CHOICE, name, "a|b|c")                                 one of the named strings, passed to the
//                                                             kernel as its index (uint8_t)
// Each reader of the rows (FASTNORM_FIELD below, kernel_table.h, binding/kernel_args.h) passes an
// X that pastes KIND onto its own macro name (FASTNORM_FIELD_IN, ...): a new kind of argument is
// one macro in each reader, and no row changes (CONTRIBUTING.md).
// dtype: Data (the tensor's: x, dy, y, dx), Param (weight, bias, running statistics and their
// gradients), Stats (saved mean/rstd), Float64 (always double: mergeable partial sums). Data,
// Param and Stats are the call's dtype, but for a half-precision call (FASTNORM_HALF_KERNELS):
// then Stats are float32 and Param the data's half format or float32 (see CONTRIBUTING.md). presence: "required", "optional", or
// "required unless <flag>". length: a product of SIZE names ("rows*cols"), checked against the
// array's length. label: the argument's name in messages ("out.y", "saved.mean").
//
// The binding checks only what protects memory: array kinds, dtypes, lengths against the sizes,
// presence, divisors, and that outputs overlap no input and no other output. What an argument
// means (eps ≥ 0, training needs two values per channel) is the TypeScript planner's to check.
#pragma once
#include <cstddef>
#include <cstdint>

#define FASTNORM_KERNELS(X) \
  X(layerNormForward)       \
  X(layerNormBackward)      \
  X(rmsNormForward)         \
  X(rmsNormBackward)        \
  X(addLayerNormForward)    \
  X(addLayerNormBackward)   \
  X(addRmsNormForward)      \
  X(addRmsNormBackward)     \
  X(batchNormForward)       \
  X(batchNormBackward)      \
  X(batchNormStats)         \
  X(batchNormGatherStats)   \
  X(batchNormElemt)         \
  X(batchNormBackwardReduce) \
  X(batchNormBackwardElemt) \
  X(groupNormForward)       \
  X(groupNormBackward)      \
  X(instanceNormForward)    \
  X(instanceNormBackward)

// The kernels that also take half-precision data (a Uint16Array of float16 or bfloat16 bits):
// each has a CHOICE row `halfFormat` (FASTNORM_HALF_FORMAT), and then Data arrays are Uint16Array,
// Stats Float32Array, Param arrays all Uint16Array (the data's format) or all Float32Array.
// (Listed per kernel file, each of which instantiates its own list.)
#define FASTNORM_HALF_ROW_KERNELS(X) \
  X(layerNormForward)                \
  X(layerNormBackward)               \
  X(rmsNormForward)                  \
  X(rmsNormBackward)                 \
  X(addLayerNormForward)             \
  X(addLayerNormBackward)            \
  X(addRmsNormForward)               \
  X(addRmsNormBackward)
#define FASTNORM_HALF_BATCH_KERNELS(X) \
  X(batchNormForward)                  \
  X(batchNormBackward)                 \
  X(batchNormStats)                    \
  X(batchNormElemt)                    \
  X(batchNormBackwardReduce)           \
  X(batchNormBackwardElemt)
#define FASTNORM_HALF_GROUP_KERNELS(X) \
  X(groupNormForward)                  \
  X(groupNormBackward)                 \
  X(instanceNormForward)               \
  X(instanceNormBackward)
#define FASTNORM_HALF_KERNELS(X) FASTNORM_HALF_ROW_KERNELS(X) FASTNORM_HALF_BATCH_KERNELS(X) FASTNORM_HALF_GROUP_KERNELS(X)
#define FASTNORM_HALF_FORMAT(X) X(CHOICE, halfFormat, "none|float16|bfloat16")

// Argument groups many kernels share (the same in kernel-schema.ts): a tensor's rows (LayerNorm,
// RMSNorm) or (N, C, S) channel view; a backward's dy and x; the statistics a forward writes and
// its backward reads; the affine parameters; the running statistics; the gradient outputs.
#define FASTNORM_ROWS(X) X(SIZE, rows, "") X(SIZE, cols, "")
#define FASTNORM_CHANNELS(X) X(SIZE, n, "") X(SIZE, c, "") X(SIZE, s, "") X(FLAG, channelsLast)
#define FASTNORM_DY_X(X, len) X(IN, dy, Data, "required", len, "dy") X(IN, x, Data, "required", len, "x")
#define FASTNORM_STATS_OUT(X, len) \
  X(OUT, mean, Stats, "required", len, "out.mean", "") X(OUT, rstd, Stats, "required", len, "out.rstd", "")
#define FASTNORM_SAVED(X, len) \
  X(IN, mean, Stats, "required", len, "saved.mean") X(IN, rstd, Stats, "required", len, "saved.rstd")
#define FASTNORM_AFFINE(X, len) \
  X(IN, weight, Param, "optional", len, "weight") X(IN, bias, Param, "optional", len, "bias")
#define FASTNORM_RUNNING(X, dtype, presence) \
  X(INOUT, runningMean, dtype, presence, "c", "runningMean") X(INOUT, runningVar, dtype, presence, "c", "runningVar")
// The activation a forward applies after its affine, y = act(x̂·w + b) (activation.h; index 0: none).
#define FASTNORM_ACTIVATION(X) X(CHOICE, activation, "none|relu|silu|gelu|gelu-tanh")
#define FASTNORM_GRADS(X, len, paramLen)                                                                          \
  X(OUT, dx, Data, "required", len, "out.dx", "") X(OUT, dweight, Param, "optional", paramLen, "out.dweight", "") \
  X(OUT, dbias, Param, "optional", paramLen, "out.dbias", "")

// ---- LayerNorm and RMSNorm: `rows` contiguous rows of `cols` values; the layer scales by
// weight + weightOffset (0: the weight itself; Gemma's zero-centered weights: 1) ----

#define FASTNORM_ARGS_layerNormForward(X)                                                          \
  X(IN, x, Data, "required", "rows*cols", "x") FASTNORM_ROWS(X)                                    \
  FASTNORM_AFFINE(X, "cols") X(NUMBER, eps) X(NUMBER, weightOffset) FASTNORM_ACTIVATION(X)        \
  X(OUT, y, Data, "required", "rows*cols", "out.y", "x") FASTNORM_STATS_OUT(X, "rows") FASTNORM_HALF_FORMAT(X)

// The backward takes the forward's bias and activation: with one, g = dy·act'(z), z = x̂·w + b,
// replaces dy (z recomputed in the backward's passes).
#define FASTNORM_ARGS_layerNormBackward(X)                                 \
  FASTNORM_DY_X(X, "rows*cols") FASTNORM_SAVED(X, "rows") FASTNORM_ROWS(X) \
  FASTNORM_AFFINE(X, "cols") X(NUMBER, weightOffset) FASTNORM_ACTIVATION(X) FASTNORM_GRADS(X, "rows*cols", "cols") \
  FASTNORM_HALF_FORMAT(X)

#define FASTNORM_ARGS_rmsNormForward(X)                                                       \
  X(IN, x, Data, "required", "rows*cols", "x") FASTNORM_ROWS(X)                               \
  X(IN, weight, Param, "optional", "cols", "weight") X(NUMBER, eps) X(NUMBER, weightOffset)   \
  X(OUT, y, Data, "required", "rows*cols", "out.y", "x") X(OUT, rstd, Stats, "required", "rows", "out.rstd", "") \
  FASTNORM_HALF_FORMAT(X)

#define FASTNORM_ARGS_rmsNormBackward(X)                                                              \
  FASTNORM_DY_X(X, "rows*cols") X(IN, rstd, Stats, "required", "rows", "saved.rstd") FASTNORM_ROWS(X) \
  X(IN, weight, Param, "optional", "cols", "weight") X(NUMBER, weightOffset)                          \
  X(OUT, dx, Data, "required", "rows*cols", "out.dx", "") X(OUT, dweight, Param, "optional", "cols", "out.dweight", "") \
  FASTNORM_HALF_FORMAT(X)

// Residual add + norm: sum = x + residual (+ residualBias per column), the new residual stream,
// is written (out.sum may be residual itself) and normalized into y (out.y may be x itself).
// The backward reads the forward's sum and adds dSum, the stream's gradient from later layers,
// to dx (out.dx may be dSum itself); dresidualBias is dx summed over the rows.
#define FASTNORM_ADD_INPUTS(X)                                                                   \
  X(IN, x, Data, "required", "rows*cols", "x") X(IN, residual, Data, "required", "rows*cols", "residual") \
  FASTNORM_ROWS(X)
#define FASTNORM_ADD_OUTPUTS(X)                                                                   \
  X(OUT, y, Data, "required", "rows*cols", "out.y", "x") X(OUT, sum, Data, "required", "rows*cols", "out.sum", "residual")
#define FASTNORM_ADD_BACKWARD_INPUTS(X)                                                               \
  X(IN, dy, Data, "required", "rows*cols", "dy") X(IN, sum, Data, "required", "rows*cols", "sum")
#define FASTNORM_ADD_BACKWARD_GRADS(X)                                                                 \
  X(IN, weight, Param, "optional", "cols", "weight") X(NUMBER, weightOffset)                           \
  X(IN, dSum, Data, "optional", "rows*cols", "dSum") X(OUT, dx, Data, "required", "rows*cols", "out.dx", "dSum")

#define FASTNORM_ARGS_addLayerNormForward(X)                                                          \
  FASTNORM_ADD_INPUTS(X) FASTNORM_AFFINE(X, "cols") X(IN, residualBias, Param, "optional", "cols", "residualBias") \
  X(NUMBER, eps) X(NUMBER, weightOffset) FASTNORM_ADD_OUTPUTS(X) FASTNORM_STATS_OUT(X, "rows") FASTNORM_HALF_FORMAT(X)

#define FASTNORM_ARGS_addLayerNormBackward(X)                                                  \
  FASTNORM_ADD_BACKWARD_INPUTS(X) FASTNORM_SAVED(X, "rows") FASTNORM_ROWS(X) FASTNORM_ADD_BACKWARD_GRADS(X) \
  X(OUT, dweight, Param, "optional", "cols", "out.dweight", "") X(OUT, dbias, Param, "optional", "cols", "out.dbias", "") \
  X(OUT, dresidualBias, Param, "optional", "cols", "out.dresidualBias", "") FASTNORM_HALF_FORMAT(X)

#define FASTNORM_ARGS_addRmsNormForward(X)                                                                \
  FASTNORM_ADD_INPUTS(X) X(IN, weight, Param, "optional", "cols", "weight")                               \
  X(IN, residualBias, Param, "optional", "cols", "residualBias") X(NUMBER, eps) X(NUMBER, weightOffset)   \
  FASTNORM_ADD_OUTPUTS(X) X(OUT, rstd, Stats, "required", "rows", "out.rstd", "") FASTNORM_HALF_FORMAT(X)

#define FASTNORM_ARGS_addRmsNormBackward(X)                                                                   \
  FASTNORM_ADD_BACKWARD_INPUTS(X) X(IN, rstd, Stats, "required", "rows", "saved.rstd") FASTNORM_ROWS(X)        \
  FASTNORM_ADD_BACKWARD_GRADS(X) X(OUT, dweight, Param, "optional", "cols", "out.dweight", "")                  \
  X(OUT, dresidualBias, Param, "optional", "cols", "out.dresidualBias", "") FASTNORM_HALF_FORMAT(X)

// ---- BatchNorm: a tensor as N samples × C channels × S positions, (N, C, S) or, when
// channelsLast, (N, S, C); statistics per channel ----

// BatchNorm's and InstanceNorm's forward and backward have the same rows but for the flag that
// says whether the batch's statistics are used (`mode`) and the count of saved statistics.
#define FASTNORM_RUNNING_FORWARD(X, mode, statsLen)                                                     \
  X(IN, x, Data, "required", "n*c*s", "x") FASTNORM_CHANNELS(X) FASTNORM_AFFINE(X, "c")                 \
  FASTNORM_RUNNING(X, Param, "required unless " #mode) X(NUMBER, momentum) X(NUMBER, eps) X(FLAG, mode) \
  FASTNORM_ACTIVATION(X) X(OUT, y, Data, "required", "n*c*s", "out.y", "x") FASTNORM_STATS_OUT(X, statsLen)
// The backwards take the forward's bias and activation: with one, g = dy·act'(z), z = x̂·w + b,
// replaces dy (z recomputed in the backward's passes).
#define FASTNORM_RUNNING_BACKWARD(X, mode, statsLen)                         \
  FASTNORM_DY_X(X, "n*c*s") FASTNORM_SAVED(X, statsLen) FASTNORM_CHANNELS(X) \
  FASTNORM_AFFINE(X, "c") X(FLAG, mode) FASTNORM_ACTIVATION(X) FASTNORM_GRADS(X, "n*c*s", "c")

#define FASTNORM_ARGS_batchNormForward(X) \
  FASTNORM_RUNNING_FORWARD(X, training, "c") FASTNORM_HALF_FORMAT(X)
#define FASTNORM_ARGS_batchNormBackward(X) \
  FASTNORM_RUNNING_BACKWARD(X, training, "c") FASTNORM_HALF_FORMAT(X)

// Synchronized BatchNorm, step 1: per-channel partial statistics of a shard.
#define FASTNORM_ARGS_batchNormStats(X)                         \
  X(IN, x, Data, "required", "n*c*s", "x") FASTNORM_CHANNELS(X) \
  X(OUT, mean, Float64, "required", "c", "out.mean", "") X(OUT, m2, Float64, "required", "c", "out.m2", "") FASTNORM_HALF_FORMAT(X)

// Step 2: the shards' partial statistics (one row of c per part) merged in part order.
#define FASTNORM_ARGS_batchNormGatherStats(X)                                                                           \
  X(IN, counts, Float64, "required", "parts", "parts[].count")                                                          \
  X(IN, means, Float64, "required", "parts*c", "parts[].mean") X(IN, m2s, Float64, "required", "parts*c", "parts[].m2") \
  X(SIZE, parts, "") X(SIZE, c, "") X(NUMBER, eps) X(NUMBER, momentum) FASTNORM_RUNNING(X, Data, "optional")            \
  X(OUT, mean, Data, "required", "c", "mean", "") X(OUT, rstd, Data, "required", "c", "rstd", "")

// Step 3: y = (x − mean)·rstd·w + b with given statistics.
#define FASTNORM_ARGS_batchNormElemt(X)                                                               \
  X(IN, x, Data, "required", "n*c*s", "x") FASTNORM_CHANNELS(X)                                       \
  X(IN, mean, Stats, "required", "c", "stats.mean") X(IN, rstd, Stats, "required", "c", "stats.rstd") \
  FASTNORM_AFFINE(X, "c") X(OUT, y, Data, "required", "n*c*s", "out.y", "x") FASTNORM_HALF_FORMAT(X)

// Backward, step 1: per-channel Σdy and Σdy·(x − mean) of a shard.
#define FASTNORM_ARGS_batchNormBackwardReduce(X)                                                   \
  FASTNORM_DY_X(X, "n*c*s") X(IN, mean, Stats, "required", "c", "saved.mean") FASTNORM_CHANNELS(X) \
  X(OUT, sumDy, Float64, "required", "c", "out.sumDy", "") X(OUT, sumDyXmu, Float64, "required", "c", "out.sumDyXmu", "") \
  FASTNORM_HALF_FORMAT(X)

// Backward, step 2: dx of a shard (and dweight/dbias) from the sums over `count` values per channel.
#define FASTNORM_ARGS_batchNormBackwardElemt(X)                                                                   \
  FASTNORM_DY_X(X, "n*c*s") FASTNORM_SAVED(X, "c") FASTNORM_CHANNELS(X)                                           \
  X(IN, weight, Param, "optional", "c", "weight")                                                                 \
  X(IN, sumDy, Float64, "required", "c", "sums.sumDy") X(IN, sumDyXmu, Float64, "required", "c", "sums.sumDyXmu") \
  X(NUMBER, count) FASTNORM_GRADS(X, "n*c*s", "c") FASTNORM_HALF_FORMAT(X)

// ---- GroupNorm: statistics per (n, group of C/groups channels); InstanceNorm: groups = C,
// with PyTorch's running statistics ----

#define FASTNORM_ARGS_groupNormForward(X)                                                   \
  X(IN, x, Data, "required", "n*c*s", "x") FASTNORM_CHANNELS(X) X(SIZE, groups, "c")        \
  FASTNORM_AFFINE(X, "c") X(NUMBER, eps) FASTNORM_ACTIVATION(X)                            \
  X(OUT, y, Data, "required", "n*c*s", "out.y", "x") FASTNORM_STATS_OUT(X, "n*groups") FASTNORM_HALF_FORMAT(X)

#define FASTNORM_ARGS_groupNormBackward(X)                                     \
  FASTNORM_DY_X(X, "n*c*s") FASTNORM_SAVED(X, "n*groups") FASTNORM_CHANNELS(X) \
  X(SIZE, groups, "c") FASTNORM_AFFINE(X, "c") FASTNORM_ACTIVATION(X) FASTNORM_GRADS(X, "n*c*s", "c") FASTNORM_HALF_FORMAT(X)

#define FASTNORM_ARGS_instanceNormForward(X) \
  FASTNORM_RUNNING_FORWARD(X, useInputStats, "n*c") FASTNORM_HALF_FORMAT(X)
#define FASTNORM_ARGS_instanceNormBackward(X) \
  FASTNORM_RUNNING_BACKWARD(X, useInputStats, "n*c") FASTNORM_HALF_FORMAT(X)

// ---- the vocabulary of the rows, and their checks at compile time ----

namespace fastnorm {

enum class Kernel {
#define FASTNORM_KERNEL_ID(name) name,
  FASTNORM_KERNELS(FASTNORM_KERNEL_ID)
#undef FASTNORM_KERNEL_ID
};

namespace schema {

enum class Role : uint8_t { In, Out, InOut, Size, Number, Flag, Choice };
enum class Dtype : uint8_t { None, Data, Param, Stats, Float64 };

// One argument of a kernel, as its row says.
struct Field {
  const char* name;
  Role role;
  Dtype dtype;
  const char* presence;  // arrays: "required", "optional", "required unless <flag>"; else ""
  const char* length;    // arrays: "rows*cols"; else ""
  const char* label;
  const char* alias;     // OUT: the input it may be exactly, or ""
  const char* divides;   // SIZE: the size it must divide, or ""
  const char* choices;   // CHOICE: "a|b|c", or ""
};

constexpr bool isArray(Role r) { return r == Role::In || r == Role::Out || r == Role::InOut; }
constexpr bool isOutput(Role r) { return r == Role::Out || r == Role::InOut; }

constexpr bool same(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}
// The first n characters of a equal b.
constexpr bool samePrefix(const char* a, size_t n, const char* b) {
  for (size_t i = 0; i < n; ++i)
    if (b[i] == 0 || a[i] != b[i]) return false;
  return b[n] == 0;
}
constexpr size_t length(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

// The index of the field named by the n characters at `name` with this role (roles: any of
// `role` and `other`), or `count` when there is none.
constexpr size_t find(const Field* f, size_t count, const char* name, size_t n, Role role, Role other) {
  for (size_t i = 0; i < count; ++i)
    if ((f[i].role == role || f[i].role == other) && samePrefix(name, n, f[i].name)) return i;
  return count;
}

constexpr const char* kRequiredUnless = "required unless ";

// The flag of a "required unless <flag>" presence, or null.
constexpr const char* presenceFlag(const char* presence) {
  const size_t n = length(kRequiredUnless);
  for (size_t i = 0; i < n; ++i)
    if (presence[i] != kRequiredUnless[i]) return nullptr;
  return presence + n;
}

// Every SIZE name of a "rows*cols" length is a SIZE field (an empty length is 1 value).
constexpr bool validLength(const Field* f, size_t count, const char* len) {
  while (*len) {
    size_t n = 0;
    while (len[n] && len[n] != '*') ++n;
    if (n == 0 || find(f, count, len, n, Role::Size, Role::Size) == count) return false;
    len += n;
    if (*len == '*') ++len;
  }
  return true;
}

// What a row may say: the checks behind the static_assert of every kernel.
constexpr bool validFields(const Field* f, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    for (size_t j = i + 1; j < count; ++j)
      if (same(f[i].name, f[j].name)) return false;  // names are unique
    if (isArray(f[i].role)) {
      const char* flag = presenceFlag(f[i].presence);
      const bool presenceOk = same(f[i].presence, "required") || same(f[i].presence, "optional") ||
                              (flag && find(f, count, flag, length(flag), Role::Flag, Role::Flag) != count);
      if (!presenceOk || !validLength(f, count, f[i].length) || f[i].dtype == Dtype::None) return false;
      if (*f[i].alias && find(f, count, f[i].alias, length(f[i].alias), Role::In, Role::In) == count) return false;
    } else if (f[i].dtype != Dtype::None || *f[i].length || *f[i].alias) {
      return false;
    }
    if ((f[i].role == Role::Choice) != (*f[i].choices != 0)) return false;
    if (*f[i].divides && (f[i].role != Role::Size || find(f, count, f[i].divides, length(f[i].divides), Role::Size, Role::Size) == count))
      return false;
  }
  return true;
}

#define FASTNORM_FIELD(kind, ...) FASTNORM_FIELD_##kind(__VA_ARGS__)
#define FASTNORM_FIELD_IN(name, dtype, presence, len, label) \
  {#name, ::fastnorm::schema::Role::In, ::fastnorm::schema::Dtype::dtype, presence, len, label, "", "", ""},
#define FASTNORM_FIELD_OUT(name, dtype, presence, len, label, alias) \
  {#name, ::fastnorm::schema::Role::Out, ::fastnorm::schema::Dtype::dtype, presence, len, label, alias, "", ""},
#define FASTNORM_FIELD_INOUT(name, dtype, presence, len, label) \
  {#name, ::fastnorm::schema::Role::InOut, ::fastnorm::schema::Dtype::dtype, presence, len, label, "", "", ""},
#define FASTNORM_FIELD_SIZE(name, divides) \
  {#name, ::fastnorm::schema::Role::Size, ::fastnorm::schema::Dtype::None, "", "", #name, "", divides, ""},
#define FASTNORM_FIELD_NUMBER(name) \
  {#name, ::fastnorm::schema::Role::Number, ::fastnorm::schema::Dtype::None, "", "", #name, "", "", ""},
#define FASTNORM_FIELD_FLAG(name) \
  {#name, ::fastnorm::schema::Role::Flag, ::fastnorm::schema::Dtype::None, "", "", #name, "", "", ""},
#define FASTNORM_FIELD_CHOICE(name, choices) \
  {#name, ::fastnorm::schema::Role::Choice, ::fastnorm::schema::Dtype::None, "", "", #name, "", "", choices},

// Fields<K>::list: kernel K's rows as data.
template <Kernel K>
struct Fields;

#define FASTNORM_KERNEL_FIELDS(name)                                                                  \
  template <>                                                                                         \
  struct Fields<Kernel::name> {                                                                       \
    static constexpr const char* kernel = #name;                                                      \
    static constexpr Field list[] = {FASTNORM_ARGS_##name(FASTNORM_FIELD)};                           \
    static constexpr size_t count = sizeof(list) / sizeof(list[0]);                                    \
  };                                                                                                  \
  static_assert(validFields(Fields<Kernel::name>::list, Fields<Kernel::name>::count),                  \
                "kernel_list.h: a row of " #name                                                       \
                " is malformed (a duplicate name, an unknown SIZE in a length or divisor, an unknown " \
                "FLAG in a presence, an alias that is not an IN, a CHOICE without choices)");
FASTNORM_KERNELS(FASTNORM_KERNEL_FIELDS)
#undef FASTNORM_KERNEL_FIELDS

}  // namespace schema
}  // namespace fastnorm
