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
//             Float64Array (TypeError);
//   length    every array has exactly the elements its length names (RangeError; a product that
//             overflows is one too);
//   overlap   outputs (OUT, INOUT) share no memory with an input or another output, except an
//             OUT exactly its alias (RangeError).
#pragma once
#include <napi.h>

#include <array>
#include <cmath>
#include <cstdint>
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

 private:
  ArrayArg typedArray(size_t index, const char* name, bool half) const {
    const std::string kinds = half ? " must be a Uint16Array" : " must be a Float32Array or Float64Array";
    ArrayArg a;
    napi_value v = index < info_.Length() ? static_cast<napi_value>(info_[index]) : nullptr;
    napi_valuetype kind = napi_undefined;
    if (v) napi_typeof(env_, v, &kind);
    if (!v || kind == napi_undefined || kind == napi_null) return a;
    bool isTyped = false;
    napi_is_typedarray(env_, v, &isTyped);
    if (!isTyped) typeError(name + kinds);
    napi_value buffer;
    size_t offset;
    if (napi_get_typedarray_info(env_, v, &a.type, &a.length, &a.data, &buffer, &offset) != napi_ok)
      typeError(std::string(name) + " could not be read");
    if (half ? a.type != napi_uint16_array : a.type != napi_float32_array && a.type != napi_float64_array)
      typeError(name + kinds);
    a.bytes = a.length * (a.type == napi_uint16_array ? 2 : a.type == napi_float32_array ? 4 : 8);
    if (a.length > 0 && !a.data) typeError(std::string(name) + " is detached");
    a.present = true;
    return a;
  }

 public:
  double number(size_t index, const char* name) const {
    if (index >= info_.Length() || !info_[index].IsNumber()) typeError(std::string(name) + " must be a number");
    return info_[index].As<Napi::Number>().DoubleValue();
  }

  // A non-negative integer of at most 2^53.
  size_t size(size_t index, const char* name) const {
    const double v = number(index, name);
    if (!(v >= 0) || v != std::floor(v) || v > 9007199254740992.0) rangeError(std::string(name) + " must be a non-negative integer");
    return size_t(v);
  }

  bool flag(size_t index, const char* name) const {
    if (index >= info_.Length() || !info_[index].IsBoolean()) typeError(std::string(name) + " must be a boolean");
    return info_[index].As<Napi::Boolean>().Value();
  }

  // The index of a string among "a|b|c" (so the kernel never sees an index out of range).
  uint8_t choice(size_t index, const char* name, const char* choices) const {
    int found = -1;
    if (index < info_.Length() && info_[index].IsString()) {
      const std::string s = info_[index].As<Napi::String>().Utf8Value();
      int k = 0;
      forEachChoice(choices, [&](const char* p, size_t n) {
        if (found < 0 && s.size() == n && s.compare(0, n, p, n) == 0) found = k;
        ++k;
      });
    }
    if (found >= 0) return uint8_t(found);
    typeError(std::string(name) + " must be one of " + choices);
  }

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

// The index of the field named by the n characters at `name`, or count.
inline size_t fieldIndex(const Field* f, size_t count, const char* name, size_t n) {
  for (size_t i = 0; i < count; ++i)
    if (schema::samePrefix(name, n, f[i].name)) return i;
  return count;
}

inline size_t fieldIndex(const Field* f, size_t count, const char* name) {
  return fieldIndex(f, count, name, schema::length(name));
}

// The element count a "rows*cols" length names; false when the product overflows.
inline bool lengthOf(const Field* f, size_t count, const Value* v, const char* len, size_t& product) {
  size_t p = 1;
  bool zero = false, overflow = false;
  while (*len) {
    size_t n = 0;
    while (len[n] && len[n] != '*') ++n;
    const size_t factor = v[fieldIndex(f, count, len, n)].size;
    if (factor == 0) zero = true;
    else if (p > SIZE_MAX / factor) overflow = true;
    else p *= factor;
    len += n;
    if (*len == '*') ++len;
  }
  product = zero ? 0 : p;
  return zero || !overflow;
}

// Reads and checks a kernel's arguments (the rows f[0..count)) into v; throws on bad input.
// Returns the dtype of the call (the first Data array's).
inline napi_typedarray_type readFields(const JsArgs& args, const Field* f, size_t count, Value* v) {
  for (size_t i = 0; i < count; ++i) {
    switch (f[i].role) {
      case Role::In:
      case Role::Out:
      case Role::InOut:
        v[i].array = args.array(i, f[i].label);
        if (!v[i].array.present && schema::same(f[i].presence, "required"))
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
    if (!schema::isArray(f[i].role) || v[i].array.present) continue;
    const char* flag = schema::presenceFlag(f[i].presence);
    if (flag && !v[fieldIndex(f, count, flag)].flag) args.typeError(std::string(f[i].label) + " is required when " + flag + " is false");
  }
  for (size_t i = 0; i < count; ++i) {
    if (f[i].role != Role::Size || !*f[i].divides) continue;
    const size_t d = v[i].size, of = v[fieldIndex(f, count, f[i].divides)].size;
    if (d < 1 || of % d != 0) args.rangeError(std::string(f[i].name) + " must be an integer >= 1 that divides " + f[i].divides);
  }
  for (size_t i = 0; i < count; ++i) {
    if (f[i].dtype != Dtype::Data || !v[i].array.present) continue;
    first = &f[i];
    dtype = v[i].array.type;
    break;
  }
  for (size_t i = 0; i < count; ++i) {
    const ArrayArg& a = v[i].array;
    if (!schema::isArray(f[i].role) || !a.present) continue;
    if (f[i].dtype == Dtype::Float64) {
      if (a.type != napi_float64_array) args.typeError(std::string(f[i].label) + " must be a Float64Array");
    } else if (a.type != dtype) {
      args.typeError(std::string(f[i].label) + " must have the same dtype as " + (first ? first->label : "the tensor"));
    }
    size_t expected;
    if (!lengthOf(f, count, v, f[i].length, expected)) args.rangeError(std::string(f[i].label) + ": " + f[i].length + " is too large");
    if (a.length != expected)
      args.rangeError(std::string(f[i].label) + " must have " + f[i].length + " = " + std::to_string(expected) + " elements, got " +
                      std::to_string(a.length));
  }
  for (size_t o = 0; o < count; ++o) {
    if (!schema::isOutput(f[o].role)) continue;
    const ArrayArg& out = v[o].array;
    for (size_t i = 0; i < count; ++i) {
      if (i == o || !schema::isArray(f[i].role) || !overlaps(out, v[i].array)) continue;
      if (schema::isOutput(f[i].role)) {
        if (i > o) args.rangeError(std::string(f[o].label) + " must not share memory with " + f[i].label);
        continue;  // reported from the earlier output
      }
      const bool inPlace = schema::same(f[o].alias, f[i].name) && out.data == v[i].array.data && out.bytes == v[i].array.bytes;
      if (!inPlace) args.rangeError(std::string(f[o].label) + " must not share memory with " + f[i].label);
    }
  }
  return dtype;
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
