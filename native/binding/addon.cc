// N-API binding: every kernel of kernel_list.h as a function of the addon (sync, and "<name>Async"
// returning a Promise computed on the libuv pool). Its arguments are unwrapped (zero copy) and
// checked by their rows (kernel_args.h: what protects memory, whatever JavaScript passes; the
// TypeScript planners have validated their meaning already), then the kernel of this instance's
// table runs. No numerical logic lives here.
//
// Per-instance state (context-aware: every worker_thread gets its own): the kernel table and
// the thread count. The thread pool itself is process-wide (runtime/thread_pool.cc).
#include <napi.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "../kernels/kernel_table.h"
#include "../runtime/dispatch.h"
#include "../runtime/tuning.h"
#include "../runtime/thread_pool.h"
#include "kernel_args.h"
#include "output_blocks.h"

namespace fastnorm {
namespace {

constexpr int kMaxThreads = 1024;

using binding::ArrayArg;
using binding::JsArgs;
using binding::overlaps;

// A kernel call with its arguments resolved: run it on any thread, any number of times.
// Stored by value (no allocation), so the sync path costs nothing over a direct call.
class PreparedCall {
 public:
  template <class KernelArgs>
  PreparedCall(bool (*kernel)(const KernelArgs&, const Exec&) noexcept, const KernelArgs& args, Exec exec) {
    static_assert(sizeof(Stored<KernelArgs>) <= sizeof(storage_), "PreparedCall storage too small");
    new (storage_) Stored<KernelArgs>{kernel, args, exec};
    invoke_ = [](const void* p) {
      const auto* s = static_cast<const Stored<KernelArgs>*>(p);
      return s->kernel(s->args, s->exec);
    };
  }
  // Holds a compute slot while it runs: concurrent calls share the cores, never oversubscribe.
  bool operator()() const {
    const runtime::ComputeSlot slot;
    return invoke_(storage_);
  }

 private:
  template <class KernelArgs>
  struct Stored {
    bool (*kernel)(const KernelArgs&, const Exec&) noexcept;
    KernelArgs args;
    Exec exec;
  };
  bool (*invoke_)(const void*);
  alignas(16) unsigned char storage_[256];
};

constexpr const char* kOutOfMemory = "fastnorm: out of memory for scratch buffers";

// Runs a prepared call on the libuv thread pool. Every argument object (the typed arrays) is
// referenced until the worker settles, so the GC cannot free memory the kernel is using.
class KernelWorker : public Napi::AsyncWorker {
 public:
  KernelWorker(const Napi::CallbackInfo& info, const PreparedCall& call)
      : Napi::AsyncWorker(info.Env(), "fastnorm"), call_(call) {
    if (napi_create_promise(info.Env(), &deferred_, &promise_) != napi_ok) throw Napi::Error::New(info.Env());
    for (size_t i = 0; i < info.Length(); ++i)
      if (info[i].IsObject()) keepAlive_.push_back(Napi::Persistent(info[i]));
  }
  // The promise, valid in the handle scope of the call that created the worker.
  napi_value promise() const { return promise_; }

  // Settles the promise on the JavaScript thread, then deletes the worker. This also runs while
  // a worker_thread's environment is torn down (worker.terminate() with calls in flight: Node
  // waits for the pool's work before it frees the environment), when JavaScript can no longer
  // run. Then resolving fails, and node-addon-api's own completion would turn that failure into
  // a C++ exception thrown out of a C callback: std::terminate. So the C API, failures ignored:
  // nobody is left to observe the promise.
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      napi_value value = nullptr;
      if (!failed_ && status == napi_ok) {
        if (napi_get_undefined(env, &value) == napi_ok) napi_resolve_deferred(env, deferred_, value);
      } else {
        napi_value message = nullptr;
        const char* text = failed_ ? kOutOfMemory : "fastnorm: the call was cancelled";
        if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message) == napi_ok &&
            napi_create_error(env, nullptr, message, &value) == napi_ok)
          napi_reject_deferred(env, deferred_, value);
      }
      napi_close_handle_scope(env, scope);
    }
    Destroy();
  }

 protected:
  void Execute() override { failed_ = !call_(); }

 private:
  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;
  PreparedCall call_;
  bool failed_ = false;
  std::vector<Napi::Reference<Napi::Value>> keepAlive_;
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    const char* forced = std::getenv("FASTNORM_ISA");
    selectIsa(forced ? forced : "");
    threads_ = runtime::availableCores();
    DefineAddon(exports, {
                             InstanceMethod("info", &Addon::info),
                             InstanceMethod("setNumThreads", &Addon::setNumThreads),
                             InstanceMethod("getNumThreads", &Addon::getNumThreads),
#define FASTNORM_KERNEL_METHODS(name)                               \
  InstanceMethod(#name, &Addon::runSync<Kernel::name>), \
      InstanceMethod(#name "Async", &Addon::runAsync<Kernel::name>),
                             FASTNORM_KERNELS(FASTNORM_KERNEL_METHODS)
#undef FASTNORM_KERNEL_METHODS
                             InstanceMethod("toFloat16", &Addon::convert<HalfFormat::Float16, true>),
                             InstanceMethod("fromFloat16", &Addon::convert<HalfFormat::Float16, false>),
                             InstanceMethod("toBFloat16", &Addon::convert<HalfFormat::BFloat16, true>),
                             InstanceMethod("fromBFloat16", &Addon::convert<HalfFormat::BFloat16, false>),
                             InstanceMethod("_kernelSchema", &Addon::kernelSchema),
                             InstanceMethod("_setIsa", &Addon::setIsa),
                             InstanceMethod("_setStreamingBytes", &Addon::setStreamingBytes),
                             InstanceMethod("_copy", &Addon::copy),
                             InstanceMethod("_computeStats", &Addon::computeStats),
                             InstanceMethod("_allocateOutput", &Addon::allocateOutput),
                             InstanceMethod("_outputBlockStats", &Addon::outputBlockStats),
                         });
  }

 private:
  void selectIsa(const std::string& name) {
    runtime::IsaChoice choice = runtime::chooseKernelTable(name);
    table_ = choice.table;
    isaWarning_ = choice.warning;
  }

  Exec exec() const { return Exec{threads_}; }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("isa", table_->isa);
    o.Set("threads", threads_);
    o.Set("cores", runtime::availableCores());
    Napi::Array isas = Napi::Array::New(env);
    uint32_t i = 0;
    for (const std::string& name : runtime::supportedIsas()) isas.Set(i++, name);
    o.Set("supportedIsas", isas);
    if (!isaWarning_.empty()) o.Set("warning", isaWarning_);
    return o;
  }

  Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
    const JsArgs args(info);
    const double n = args.number(0, "n");
    if (!(n >= 1 && n <= kMaxThreads) || n != std::floor(n))
      args.rangeError("n must be an integer from 1 to " + std::to_string(kMaxThreads));
    threads_ = int(n);
    return info.Env().Undefined();
  }

  Napi::Value getNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads_); }

  // Test hook: switch this instance to another ISA path; returns the path in use.
  Napi::Value setIsa(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "isa must be a string");
    selectIsa(info[0].As<Napi::String>().Utf8Value());
    return Napi::String::New(info.Env(), table_->isa);
  }

  // Bench hook: _setStreamingBytes(bytes | Infinity) sets the process-wide size from which
  // outputs are written with streaming stores (Infinity: never); returns the previous one.
  // Results are the same bits either way: only the kind of store changes.
  Napi::Value setStreamingBytes(const Napi::CallbackInfo& info) {
    const double previous = double(runtime::streamingBytes());
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "bytes must be a number");
    const double bytes = info[0].As<Napi::Number>().DoubleValue();
    if (!(bytes >= 0)) throw Napi::RangeError::New(info.Env(), "bytes must be >= 0");
    runtime::streamingBytesSetting.store(bytes >= 0x1p63 ? SIZE_MAX : size_t(bytes));
    return Napi::Number::New(info.Env(), previous >= 0x1p63 ? INFINITY : previous);
  }

  // Bench helper: memcpy(dst, src) split over this instance's threads, the bandwidth yardstick.
  Napi::Value copy(const Napi::CallbackInfo& info) {
    const JsArgs args(info);
    const ArrayArg dst = args.array(0, "dst"), src = args.array(1, "src");
    if (!dst.present || !src.present) args.typeError("dst and src must be Float32Arrays or Float64Arrays");
    if (dst.bytes != src.bytes) args.rangeError("dst and src must have the same byte length");
    if (overlaps(dst, src)) args.rangeError("dst must not share memory with src");
    constexpr size_t kChunk = 1 << 20;
    auto* d = static_cast<char*>(dst.data);
    const auto* s = static_cast<const char*>(src.data);
    const runtime::ComputeSlot slot;
    runtime::parallelFor(dst.bytes, kChunk, dst.bytes < 4 * kChunk ? 1 : threads_,
                         [&](size_t begin, size_t end) { std::memcpy(d + begin, s + begin, end - begin); });
    return info.Env().Undefined();
  }

  // to<Format>(src, dst): src (Float32Array/Float64Array) rounded into dst (Uint16Array);
  // from<Format>(src, dst): src (Uint16Array) widened exactly into dst (Float32Array/Float64Array).
  template <HalfFormat F, bool Narrow>
  Napi::Value convert(const Napi::CallbackInfo& info) {
    const JsArgs args(info);
    const ArrayArg src = Narrow ? args.array(0, "src") : args.halfArray(0, "src");
    const ArrayArg dst = Narrow ? args.halfArray(1, "out") : args.array(1, "out");
    if (!src.present) args.typeError("src is required");
    if (!dst.present) args.typeError("out is required");
    if (src.length != dst.length) args.rangeError("out must have the length of src");
    if (overlaps(src, dst)) args.rangeError("out must not share memory with src");
    const bool single = (Narrow ? src.type : dst.type) == napi_float32_array;
    const auto* from = src.data;
    auto* to = dst.data;
    const runtime::ComputeSlot slot;
    if constexpr (Narrow) {
      if (single) table_->convertF32.narrow[int(F)](static_cast<const float*>(from), static_cast<uint16_t*>(to), src.length, exec());
      else table_->convertF64.narrow[int(F)](static_cast<const double*>(from), static_cast<uint16_t*>(to), src.length, exec());
    } else {
      if (single) table_->convertF32.widen[int(F)](static_cast<const uint16_t*>(from), static_cast<float*>(to), src.length, exec());
      else table_->convertF64.widen[int(F)](static_cast<const uint16_t*>(from), static_cast<double*>(to), src.length, exec());
    }
    return info.Env().Undefined();
  }

  // Test hook: the process-wide compute-slot figures (runtime::computeStats); reset = true
  // starts a new peak.
  Napi::Value computeStats(const Napi::CallbackInfo& info) {
    const runtime::ComputeStats stats = runtime::computeStats(info.Length() > 0 && info[0].ToBoolean());
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("limit", stats.limit);
    o.Set("peakBusy", stats.peakBusy);
    o.Set("waits", double(stats.waits));
    return o;
  }

  // alloc.ts's large outputs (output_blocks.cc): an ArrayBuffer of `bytes`, not zeroed, or
  // undefined when the caller must allocate it itself.
  Napi::Value allocateOutput(const Napi::CallbackInfo& info) {
    const JsArgs args(info);
    const double bytes = args.number(0, "bytes");
    if (!(bytes >= 1 && bytes <= double(size_t(1) << 40)) || bytes != std::floor(bytes))
      args.rangeError("bytes must be a positive integer");
    return binding::allocateOutputBlock(info.Env(), size_t(bytes));
  }

  // Test hook: the output-block cache's figures; reset = true zeroes the counts.
  Napi::Value outputBlockStats(const Napi::CallbackInfo& info) {
    const binding::OutputBlockStats s = binding::outputBlockStats(info.Length() > 0 && info[0].ToBoolean());
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("live", double(s.live));
    o.Set("idle", double(s.idle));
    o.Set("reused", s.reused);
    o.Set("fresh", s.fresh);
    o.Set("refused", s.refused);
    return o;
  }

  // Kernel K's arguments checked by its rows and resolved into a call of this instance's
  // kernel of their dtype. runSync runs it on the calling thread, runAsync on the libuv pool.
  template <Kernel K>
  PreparedCall prepare(const Napi::CallbackInfo& info) {
    using Fields = schema::Fields<K>;
    using Resolved = binding::ResolvedFields<K>;
    binding::Value values[Fields::count];
    const binding::CallDtype call =
        binding::readFields(JsArgs(info), Fields::list, Resolved::list.data(), Fields::count, values, Resolved::halfFormat);
    if constexpr (Resolved::halfFormat != binding::kNoField) {
      if (call.format == 1) return prepareHalf<K>(table_->f16, call.halfParams, values);
      if (call.format == 2) return prepareHalf<K>(table_->bf16, call.halfParams, values);
    }
    const napi_typedarray_type dtype = call.data;
    if (dtype == napi_float32_array)
      return PreparedCall(binding::KernelCall<K>::of(table_->f32), binding::KernelCall<K>::template build<float>(values), exec());
    return PreparedCall(binding::KernelCall<K>::of(table_->f64), binding::KernelCall<K>::template build<double>(values), exec());
  }

  // A half-precision call of kernel K (one of FASTNORM_HALF_KERNELS) in format F's kernels.
  template <Kernel K, HalfFormat F>
  PreparedCall prepareHalf(const HalfKernels<F>& kernels, bool halfParams, const binding::Value* values) {
    using Call = binding::HalfKernelCall<K>;
    if (halfParams)
      return PreparedCall(Call::of(kernels.halfParams), binding::KernelCall<K>::template build<HalfCall<F, Half<F>>>(values), exec());
    return PreparedCall(Call::of(kernels.floatParams), binding::KernelCall<K>::template build<HalfCall<F, float>>(values), exec());
  }

  template <Kernel K>
  Napi::Value runSync(const Napi::CallbackInfo& info) {
    const PreparedCall call = prepare<K>(info);
    if (!call()) throw Napi::Error::New(info.Env(), kOutOfMemory);
    return info.Env().Undefined();
  }

  template <Kernel K>
  Napi::Value runAsync(const Napi::CallbackInfo& info) {
    auto* worker = new KernelWorker(info, prepare<K>(info));
    const napi_value promise = worker->promise();
    worker->Queue();
    return Napi::Value(info.Env(), promise);
  }

  // Test hook: every kernel's rows (kernel_list.h), to compare with the TypeScript schemas.
  Napi::Value kernelSchema(const Napi::CallbackInfo& info) { return binding::kernelSchemaToJs(info.Env()); }

  const KernelTable* table_ = nullptr;
  std::string isaWarning_;
  int threads_ = 1;
};

}  // namespace
}  // namespace fastnorm

using fastnorm::Addon;
NODE_API_ADDON(Addon)
