// The binding's side of kernel_list.h: a kernel's JavaScript arguments read by their rows, with
// the checks that protect memory, into the kernel's Args struct; and the rows as JavaScript data
// for the `_kernelSchema()` test hook. Nothing here knows a particular kernel.
//
// The checks, in this order (each error names the argument: the row's label):
//   kind      arrays are Float32Array/Float64Array (or null/undefined: absent; not when
//             required), sizes are non-negative integers, numbers numbers, flags booleans
//             (TypeError/RangeError), choices one of their strings (TypeError), argument by argument;
//   presence  "required unless <flag>" arrays are there when the flag is false;
//   divisors  a SIZE with a divisor is ≥ 1 and divides it;
//   dtype     Data, Param and Stats arrays have the dtype of the first Data array, Float64 ones are
//             Float64Array (TypeError); a kernel with a `halfFormat` row (FASTNORM_HALF_KERNELS) also
//             takes Uint16Array data when halfFormat is float16/bfloat16 (and only then): Stats
//             are then Float32Array, Param arrays all Uint16Array or all Float32Array;
//   length    every array has exactly the elements its length names (RangeError; a product that
//             overflows is one too);
//   overlap   outputs (OUT, INOUT) share no memory with an input or another output, except an
//             OUT exactly its alias (RangeError).
#pragma once
#include <napi.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../kernels/kernel_table.h"

namespace fastnorm::binding {

using schema::Dtype;
using schema::Field;
using schema::Role;

// A typed-array argument: its element pointer and length (absent: null data, present false).
struct ArrayArg {
  void* data = nullptr;
  size_t length = 0;
  size_t bytes = 0;
  napi_typedarray_type type = napi_float32_array;
  bool present = false;
};

// One argument as read from JavaScript.
struct Value {
  ArrayArg array;
  size_t size = 0;
  double number = 0;
  bool flag = false;
  uint8_t choice = 0;
};

// f(p, n) for each choice of "a|b|c" (the n characters at p), in order.
template <class F>
void forEachChoice(const char* p, F f) {
  for (;;) {
    size_t n = 0;
    while (p[n] && p[n] != '|') ++n;
    f(p, n);
    if (!p[n]) return;
    p += n + 1;
  }
}

// The JavaScript arguments of a call, read by position; errors are thrown as JavaScript errors.
class JsArgs {
 public:
  explicit JsArgs(const Napi::CallbackInfo& info) : info_(info), env_(info.Env()) {}

  [[noreturn]] void typeError(const std::string& message) const { throw Napi::TypeError::New(env_, message); }
  [[noreturn]] void rangeError(const std::string& message) const { throw Napi::RangeError::New(env_, message); }

  // A Float32Array/Float64Array, or absent (null/undefined/missing).
  ArrayArg array(size_t index, const char* name) const { return typedArray(index, name, false); }

  // A Uint16Array (16-bit storage: float16 or bfloat16 bit patterns), or absent.
  ArrayArg halfArray(size_t index, const char* name) const { return typedArray(index, name, true); }

  // Any of the three (a half-precision kernel's arrays, sorted out by their dtype rules), or absent.
  ArrayArg anyArray(size_t index, const char* name) const { return typedArray(index, name, false, true); }

 private:
  // One N-API call on the path of a typed array (no buffer or offset asked for); the kind of
  // anything else is looked at only then, and a message built only for an error.
  ArrayArg typedArray(size_t index, const char* name, bool half, bool any = false) const {
    ArrayArg a;
    napi_value v = index < info_.Length() ? static_cast<napi_value>(info_[index]) : nullptr;
    if (!v) return a;
    if (napi_get_typedarray_info(env_, v, &a.type, &a.length, &a.data, nullptr, nullptr) != napi_ok) {
      napi_valuetype kind = napi_undefined;
      napi_typeof(env_, v, &kind);
      if (kind == napi_undefined || kind == napi_null) return ArrayArg{};
      wrongKind(name, half, any);
    }
    const bool isFloat = a.type == napi_float32_array || a.type == napi_float64_array, isHalf = a.type == napi_uint16_array;
    if (any ? !isFloat && !isHalf : half ? !isHalf : !isFloat) wrongKind(name, half, any);
    a.bytes = a.length * (a.type == napi_uint16_array ? 2 : a.type == napi_float32_array ? 4 : 8);
    if (a.length > 0 && !a.data) typeError(std::string(name) + " is detached");
    a.present = true;
    return a;
  }

  [[noreturn]] void wrongKind(const char* name, bool half, bool any) const {
    typeError(name + std::string(any    ? " must be a Float32Array, Float64Array or Uint16Array"
                                 : half ? " must be a Uint16Array"
                                        : " must be a Float32Array or Float64Array"));
  }

 public:
  double number(size_t index, const char* name) const {
    double v = 0;
    if (index >= info_.Length() || napi_get_value_double(env_, info_[index], &v) != napi_ok) typeError(std::string(name) + " must be a number");
    return v;
  }

  // A non-negative integer of at most 2^53.
  size_t size(size_t index, const char* name) const {
    const double v = number(index, name);
    if (!(v >= 0) || v != std::floor(v) || v > 9007199254740992.0) rangeError(std::string(name) + " must be a non-negative integer");
    return size_t(v);
  }

  bool flag(size_t index, const char* name) const {
    bool v = false;
    if (index >= info_.Length() || napi_get_value_bool(env_, info_[index], &v) != napi_ok) typeError(std::string(name) + " must be a boolean");
    return v;
  }

  // The index of a string among "a|b|c" (so the kernel never sees an index out of range). Read
  // into a buffer longer than any choice: a longer string is cut, and matches none.
  uint8_t choice(size_t index, const char* name, const char* choices) const {
    int found = -1;
    char s[kChoiceBuffer];
    size_t length = 0;
    if (index < info_.Length() && napi_get_value_string_utf8(env_, info_[index], s, sizeof s, &length) == napi_ok) {
      int k = 0;
      forEachChoice(choices, [&](const char* p, size_t n) {
        if (found < 0 && length == n && std::memcmp(s, p, n) == 0) found = k;
        ++k;
      });
    }
    if (found >= 0) return uint8_t(found);
    typeError(std::string(name) + " must be one of " + choices);
  }

  // Longer than every choice of every row (kernel_list.h's choices are checked against it).
  static constexpr size_t kChoiceBuffer = 32;

 private:
  const Napi::CallbackInfo& info_;
  Napi::Env env_;
};

inline bool overlaps(const ArrayArg& a, const ArrayArg& b) {
  if (!a.present || !b.present || a.bytes == 0 || b.bytes == 0) return false;
  const auto* pa = static_cast<const char*>(a.data);
  const auto* pb = static_cast<const char*>(b.data);
  return pa < pb + b.bytes && pb < pa + a.bytes;
}

// What a row's names refer to, resolved once at compile time (the call reads no names):
constexpr size_t kNoField = SIZE_MAX;
constexpr size_t kMaxFactors = 4;  // sizes in one length ("n*c*s")

struct Resolved {
  bool required = false;           // an array whose presence is "required"
  size_t flag = kNoField;          // the FLAG of "required unless <flag>"
  size_t factors[kMaxFactors] = {kNoField, kNoField, kNoField, kNoField};  // the SIZEs of its length
  size_t factorCount = 0;
  size_t divides = kNoField;       // the SIZE a SIZE divides
  size_t alias = kNoField;         // the IN an OUT may be
};

// The `halfFormat` CHOICE of a half-precision kernel (FASTNORM_HALF_FORMAT), or kNoField.
template <size_t N>
constexpr size_t halfFormatField(const Field* f) {
  for (size_t i = 0; i < N; ++i)
    if (f[i].role == Role::Choice && schema::same(f[i].name, "halfFormat")) return i;
  return kNoField;
}

template <size_t N>
constexpr std::array<Resolved, N> resolve(const Field* f) {
  std::array<Resolved, N> r{};
  for (size_t i = 0; i < N; ++i) {
    if (schema::isArray(f[i].role)) {
      r[i].required = schema::same(f[i].presence, "required");
      if (const char* flag = schema::presenceFlag(f[i].presence))
        r[i].flag = schema::find(f, N, flag, schema::length(flag), Role::Flag, Role::Flag);
      for (const char* len = f[i].length; *len;) {
        size_t n = 0;
        while (len[n] && len[n] != '*') ++n;
        if (r[i].factorCount < kMaxFactors) r[i].factors[r[i].factorCount] = schema::find(f, N, len, n, Role::Size, Role::Size);
        ++r[i].factorCount;
        len += n;
        if (*len == '*') ++len;
      }
      if (*f[i].alias) r[i].alias = schema::find(f, N, f[i].alias, schema::length(f[i].alias), Role::In, Role::In);
    }
    if (*f[i].divides) r[i].divides = schema::find(f, N, f[i].divides, schema::length(f[i].divides), Role::Size, Role::Size);
  }
  return r;
}

template <size_t N>
constexpr bool resolvable(const std::array<Resolved, N>& r, const Field* f) {
  for (size_t i = 0; i < N; ++i) {
    if (r[i].factorCount > kMaxFactors) return false;
    for (const char* c = f[i].choices; *c;) {  // every choice fits JsArgs::choice's buffer
      size_t n = 0;
      while (c[n] && c[n] != '|') ++n;
      if (n + 1 >= JsArgs::kChoiceBuffer) return false;
      c += n;
      if (*c == '|') ++c;
    }
  }
  return true;
}

template <Kernel K>
struct ResolvedFields {
  using Rows = schema::Fields<K>;
  static constexpr std::array<Resolved, Rows::count> list = resolve<Rows::count>(Rows::list);
  static constexpr size_t halfFormat = halfFormatField<Rows::count>(Rows::list);
  static_assert(resolvable(list, Rows::list), "kernel_args.h: a length of more than kMaxFactors sizes, or a choice too long");
};

// The element count of an array's length; false when the product overflows.
inline bool lengthOf(const Resolved& r, const Value* v, size_t& product) {
  size_t p = 1;
  bool zero = false, overflow = false;
  for (size_t k = 0; k < r.factorCount; ++k) {
    const size_t factor = v[r.factors[k]].size;
    if (factor == 0) zero = true;
    else if (p > SIZE_MAX / factor) overflow = true;
    else p *= factor;
  }
  product = zero ? 0 : p;
  return zero || !overflow;
}

// The storage types of a call: its data's (the first Data array's) and, for a half-precision
// call (format 1: float16, 2: bfloat16), whether its parameters are halves too.
struct CallDtype {
  napi_typedarray_type data = napi_float32_array;
  uint8_t format = 0;
  bool halfParams = false;
};

// Reads and checks a kernel's arguments (the rows f[0..count), resolved as r; half: the
// halfFormat row or kNoField) into v; throws on bad input.
inline CallDtype readFields(const JsArgs& args, const Field* f, const Resolved* r, size_t count, Value* v, size_t half = kNoField) {
  for (size_t i = 0; i < count; ++i) {
    switch (f[i].role) {
      case Role::In:
      case Role::Out:
      case Role::InOut:
        v[i].array = half != kNoField ? args.anyArray(i, f[i].label) : args.array(i, f[i].label);
        if (!v[i].array.present && r[i].required)
          args.typeError(std::string(f[i].label) + " is required (a Float32Array or Float64Array)");
        break;
      case Role::Size: v[i].size = args.size(i, f[i].name); break;
      case Role::Number: v[i].number = args.number(i, f[i].name); break;
      case Role::Flag: v[i].flag = args.flag(i, f[i].name); break;
      case Role::Choice: v[i].choice = args.choice(i, f[i].name, f[i].choices); break;
    }
  }
  const Field* first = nullptr;
  napi_typedarray_type dtype = napi_float32_array;
  for (size_t i = 0; i < count; ++i) {
    if (!schema::isArray(f[i].role) || v[i].array.present || r[i].flag == kNoField) continue;
    if (!v[r[i].flag].flag) args.typeError(std::string(f[i].label) + " is required when " + f[r[i].flag].name + " is false");
  }
  for (size_t i = 0; i < count; ++i) {
    if (r[i].divides == kNoField) continue;
    const size_t d = v[i].size, of = v[r[i].divides].size;
    if (d < 1 || of % d != 0) args.rangeError(std::string(f[i].name) + " must be an integer >= 1 that divides " + f[i].divides);
  }
  for (size_t i = 0; i < count; ++i) {
    if (f[i].dtype != Dtype::Data || !v[i].array.present) continue;
    first = &f[i];
    dtype = v[i].array.type;
    break;
  }
  CallDtype call;
  call.data = dtype;
  // a half-precision call: Stats float32, Param all of the first Param array's type
  napi_typedarray_type stats = dtype, param = dtype;
  const Field* firstParam = nullptr;
  if (half != kNoField) {
    call.format = v[half].choice;
    const std::string label = first ? first->label : "the tensor";
    if (call.format != 0 && dtype != napi_uint16_array)
      args.typeError(label + " must be a Uint16Array for halfFormat " + (call.format == 1 ? "float16" : "bfloat16"));
    if (call.format == 0 && dtype == napi_uint16_array) args.typeError(label + " is a Uint16Array: halfFormat must be float16 or bfloat16");
    if (call.format != 0) {
      stats = napi_float32_array;
      param = napi_float32_array;
      for (size_t i = 0; i < count; ++i) {
        if (f[i].dtype != Dtype::Param || !v[i].array.present) continue;
        firstParam = &f[i];
        param = v[i].array.type;
        if (param != napi_uint16_array && param != napi_float32_array)
          args.typeError(std::string(f[i].label) + " of half-precision data must be a Uint16Array (its format) or a Float32Array");
        break;
      }
      call.halfParams = param == napi_uint16_array;
    }
  }
  for (size_t i = 0; i < count; ++i) {
    const ArrayArg& a = v[i].array;
    if (!schema::isArray(f[i].role) || !a.present) continue;
    if (f[i].dtype == Dtype::Float64) {
      if (a.type != napi_float64_array) args.typeError(std::string(f[i].label) + " must be a Float64Array");
    } else if (f[i].dtype == Dtype::Stats && call.format != 0) {
      if (a.type != stats) args.typeError(std::string(f[i].label) + " must be a Float32Array (the statistics of half-precision data)");
    } else if (f[i].dtype == Dtype::Param && call.format != 0) {
      if (a.type != param) args.typeError(std::string(f[i].label) + " must have the same dtype as " + firstParam->label);
    } else if (a.type != dtype) {
      args.typeError(std::string(f[i].label) + " must have the same dtype as " + (first ? first->label : "the tensor"));
    }
    size_t expected;
    if (!lengthOf(r[i], v, expected)) args.rangeError(std::string(f[i].label) + ": " + f[i].length + " is too large");
    if (a.length != expected)
      args.rangeError(std::string(f[i].label) + " must have " + f[i].length + " = " + std::to_string(expected) + " elements, got " +
                      std::to_string(a.length));
  }
  for (size_t o = 0; o < count; ++o) {
    if (!schema::isOutput(f[o].role)) continue;
    const ArrayArg& out = v[o].array;
    if (!out.present || out.bytes == 0) continue;
    for (size_t i = 0; i < count; ++i) {
      if (i == o || !schema::isArray(f[i].role) || !overlaps(out, v[i].array)) continue;
      if (schema::isOutput(f[i].role)) {
        if (i > o) args.rangeError(std::string(f[o].label) + " must not share memory with " + f[i].label);
        continue;  // reported from the earlier output
      }
      const bool inPlace = r[o].alias == i && out.data == v[i].array.data && out.bytes == v[i].array.bytes;
      if (!inPlace) args.rangeError(std::string(f[o].label) + " must not share memory with " + f[i].label);
    }
  }
  return call;
}

// Kernel K's Args struct from its checked values, and its function in a kernel set.
template <Kernel K>
struct KernelCall;

#define FASTNORM_BUILD(kind, ...) FASTNORM_BUILD_##kind(__VA_ARGS__)
#define FASTNORM_BUILD_IN(name, dtype, ...) \
  a.name = static_cast<const typename FieldType<schema::Dtype::dtype, T>::type*>(v[i++].array.data);
#define FASTNORM_BUILD_OUT(name, dtype, ...) \
  a.name = static_cast<typename FieldType<schema::Dtype::dtype, T>::type*>(v[i++].array.data);
#define FASTNORM_BUILD_INOUT FASTNORM_BUILD_OUT
#define FASTNORM_BUILD_SIZE(name, ...) a.name = v[i++].size;
#define FASTNORM_BUILD_NUMBER(name) a.name = v[i++].number;
#define FASTNORM_BUILD_FLAG(name) a.name = v[i++].flag;
#define FASTNORM_BUILD_CHOICE(name, choices) a.name = v[i++].choice;
#define FASTNORM_KERNEL_CALL(name)                                                                                   \
  template <>                                                                                                        \
  struct KernelCall<Kernel::name> {                                                                                  \
    template <class T>                                                                                               \
    static Args<Kernel::name, T> build(const Value* v) {                                                             \
      Args<Kernel::name, T> a{};                                                                                     \
      size_t i = 0;                                                                                                  \
      FASTNORM_ARGS_##name(FASTNORM_BUILD)                                                                           \
      return a;                                                                                                      \
    }                                                                                                                \
    template <class T>                                                                                               \
    static KernelFunction<Kernel::name, T> of(const KernelSet<T>& set) { return set.name; }                          \
  };
FASTNORM_KERNELS(FASTNORM_KERNEL_CALL)
#undef FASTNORM_KERNEL_CALL

// A half-precision kernel's function in one HalfCall type's set (FASTNORM_HALF_KERNELS only).
template <Kernel K>
struct HalfKernelCall;
#define FASTNORM_HALF_KERNEL_CALL(name)                                                   \
  template <>                                                                             \
  struct HalfKernelCall<Kernel::name> {                                                   \
    template <class C>                                                                    \
    static KernelFunction<Kernel::name, C> of(const HalfKernelSet<C>& set) { return set.name; } \
  };
FASTNORM_HALF_KERNELS(FASTNORM_HALF_KERNEL_CALL)
#undef FASTNORM_HALF_KERNEL_CALL
#undef FASTNORM_BUILD
#undef FASTNORM_BUILD_IN
#undef FASTNORM_BUILD_INOUT
#undef FASTNORM_BUILD_OUT
#undef FASTNORM_BUILD_SIZE
#undef FASTNORM_BUILD_NUMBER
#undef FASTNORM_BUILD_FLAG
#undef FASTNORM_BUILD_CHOICE

// ---- the rows as JavaScript data (the _kernelSchema() test hook) ----

inline const char* roleName(Role r) {
  switch (r) {
    case Role::In: return "in";
    case Role::Out: return "out";
    case Role::InOut: return "inout";
    case Role::Size: return "size";
    case Role::Number: return "number";
    case Role::Flag: return "flag";
    case Role::Choice: return "choice";
  }
  return "?";
}

inline const char* dtypeName(Dtype d) {
  switch (d) {
    case Dtype::Data: return "data";
    case Dtype::Param: return "param";
    case Dtype::Stats: return "stats";
    case Dtype::Float64: return "float64";
    case Dtype::None: break;
  }
  return "";
}

// [{ name, role, dtype?, presence?, length?: [sizes], label?, alias?, divides? }, ...]
inline Napi::Array fieldsToJs(Napi::Env env, const Field* f, size_t count) {
  Napi::Array list = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", f[i].name);
    o.Set("role", roleName(f[i].role));
    if (schema::isArray(f[i].role)) {
      o.Set("dtype", dtypeName(f[i].dtype));
      o.Set("presence", f[i].presence);
      Napi::Array sizes = Napi::Array::New(env);
      uint32_t k = 0;
      for (const char* p = f[i].length; *p;) {
        size_t n = 0;
        while (p[n] && p[n] != '*') ++n;
        sizes.Set(k++, std::string(p, n));
        p += n;
        if (*p == '*') ++p;
      }
      o.Set("length", sizes);
      o.Set("label", f[i].label);
      if (*f[i].alias) o.Set("alias", f[i].alias);
    }
    if (*f[i].divides) o.Set("divides", f[i].divides);
    if (*f[i].choices) {
      Napi::Array names = Napi::Array::New(env);
      uint32_t k = 0;
      forEachChoice(f[i].choices, [&](const char* p, size_t n) { names.Set(k++, std::string(p, n)); });
      o.Set("choices", names);
    }
    list.Set(uint32_t(i), o);
  }
  return list;
}

// { kernelName: rows } for every kernel of kernel_list.h.
inline Napi::Object kernelSchemaToJs(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
#define FASTNORM_SCHEMA_ENTRY(name) \
  o.Set(#name, fieldsToJs(env, schema::Fields<Kernel::name>::list, schema::Fields<Kernel::name>::count));
  FASTNORM_KERNELS(FASTNORM_SCHEMA_ENTRY)
#undef FASTNORM_SCHEMA_ENTRY
  return o;
}

}  // namespace fastnorm::binding
