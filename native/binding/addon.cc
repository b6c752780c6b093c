// N-API binding: unwraps typed arrays (zero copy), checks them again defensively (the
// TypeScript facade has validated already, but no input may crash the process), and calls
// the kernel of this instance's table. No numerical logic lives here.
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
#include "../runtime/thread_pool.h"

namespace fastnorm {
namespace {

constexpr int kMaxThreads = 1024;

// X(jsName, prepareMethod): every op the addon exports, each as jsName (sync) and
// jsName + "Async" (a Promise, computed on the libuv thread pool).
#define FASTNORM_BINDING_OPS(X)                        \
  X(layerNormForward, prepareRowNormForward<true>)     \
  X(rmsNormForward, prepareRowNormForward<false>)      \
  X(layerNormBackward, prepareRowNormBackward<true>)   \
  X(rmsNormBackward, prepareRowNormBackward<false>)                 \
  X(batchNormForward, prepareBatchNormForward)                      \
  X(batchNormBackward, prepareBatchNormBackward)                    \
  X(batchNormStats, prepareBatchNormStats)                          \
  X(batchNormApply, prepareBatchNormApply)                          \
  X(batchNormBackwardReduce, prepareBatchNormBackwardReduce)        \
  X(batchNormBackwardApply, prepareBatchNormBackwardApply)        \
  X(groupNormForward, prepareGroupNormForward)                      \
  X(groupNormBackward, prepareGroupNormBackward)

// A typed-array argument: its element pointer and length (null data for an omitted optional).
struct ArrayArg {
  void* data = nullptr;
  size_t length = 0;
  size_t bytes = 0;
  napi_typedarray_type type = napi_float32_array;
  bool present = false;
};

class Args {
 public:
  explicit Args(const Napi::CallbackInfo& info) : info_(info), env_(info.Env()) {}

  Napi::Env env() const { return env_; }

  [[noreturn]] void typeError(const std::string& message) const { throw Napi::TypeError::New(env_, message); }
  [[noreturn]] void rangeError(const std::string& message) const { throw Napi::RangeError::New(env_, message); }

  // A Float32Array/Float64Array (or, when optional, null/undefined).
  ArrayArg array(size_t index, const char* name, bool optional = false) const {
    ArrayArg a;
    napi_value v = index < info_.Length() ? static_cast<napi_value>(info_[index]) : nullptr;
    napi_valuetype kind = napi_undefined;
    if (v) napi_typeof(env_, v, &kind);
    if (!v || kind == napi_undefined || kind == napi_null) {
      if (optional) return a;
      typeError(std::string(name) + " must be a Float32Array or Float64Array");
    }
    bool isTyped = false;
    napi_is_typedarray(env_, v, &isTyped);
    if (!isTyped) typeError(std::string(name) + " must be a Float32Array or Float64Array");
    napi_value buffer;
    size_t offset;
    if (napi_get_typedarray_info(env_, v, &a.type, &a.length, &a.data, &buffer, &offset) != napi_ok)
      typeError(std::string(name) + " could not be read");
    if (a.type != napi_float32_array && a.type != napi_float64_array)
      typeError(std::string(name) + " must be a Float32Array or Float64Array");
    a.bytes = a.length * (a.type == napi_float32_array ? 4 : 8);
    if (a.length > 0 && !a.data) typeError(std::string(name) + " is detached");
    a.present = true;
    return a;
  }

  // An array of x's dtype and exactly `length` elements.
  ArrayArg array(size_t index, const char* name, napi_typedarray_type type, size_t length, bool optional = false) const {
    ArrayArg a = array(index, name, optional);
    if (!a.present) return a;
    if (a.type != type) typeError(std::string(name) + " must have the same dtype as x");
    if (a.length != length)
      rangeError(std::string(name) + " must have " + std::to_string(length) + " elements, got " + std::to_string(a.length));
    if (length > 0 && !a.data) typeError(std::string(name) + " is detached");
    return a;
  }

  double number(size_t index, const char* name) const {
    if (index >= info_.Length() || !info_[index].IsNumber()) typeError(std::string(name) + " must be a number");
    return info_[index].As<Napi::Number>().DoubleValue();
  }

  size_t count(size_t index, const char* name) const {
    const double v = number(index, name);
    if (!(v >= 0) || v != std::floor(v) || v > 9007199254740991.0) rangeError(std::string(name) + " must be a non-negative integer");
    return size_t(v);
  }

  bool boolean(size_t index, const char* name) const {
    if (index >= info_.Length() || !info_[index].IsBoolean()) typeError(std::string(name) + " must be a boolean");
    return info_[index].As<Napi::Boolean>().Value();
  }

  double finite(size_t index, const char* name) const {
    const double v = number(index, name);
    if (!std::isfinite(v)) rangeError(std::string(name) + " must be a finite number");
    return v;
  }

  // (n, c, s, channelsLast) at index..index+3, checked against the element count of x.
  ChannelShape channels(size_t index, const ArrayArg& x) const {
    const ChannelShape shape{count(index, "n"), count(index + 1, "c"), count(index + 2, "s"), boolean(index + 3, "channelsLast")};
    const size_t ns = shape.s == 0 || shape.n <= SIZE_MAX / shape.s ? shape.n * shape.s : SIZE_MAX;
    if (ns == SIZE_MAX || (shape.c != 0 && ns > SIZE_MAX / shape.c) || ns * shape.c != x.length)
      rangeError("x must have n*c*s elements");
    return shape;
  }

  double eps(size_t index) const {
    const double v = number(index, "eps");
    if (!std::isfinite(v) || v < 0) rangeError("eps must be a finite number >= 0");
    return v;
  }

 private:
  const Napi::CallbackInfo& info_;
  Napi::Env env_;
};

bool overlaps(const ArrayArg& a, const ArrayArg& b) {
  if (!a.present || !b.present || a.bytes == 0 || b.bytes == 0) return false;
  const auto* pa = static_cast<const char*>(a.data);
  const auto* pb = static_cast<const char*>(b.data);
  return pa < pb + b.bytes && pb < pa + a.bytes;
}

// Outputs must not overlap any input or each other; `inPlace` (y over x) may coincide exactly.
void checkNoAliasing(const Args& args, std::initializer_list<std::pair<const char*, const ArrayArg*>> outputs,
                     std::initializer_list<std::pair<const char*, const ArrayArg*>> inputs,
                     const ArrayArg* inPlaceOut = nullptr, const ArrayArg* inPlaceIn = nullptr) {
  for (auto o = outputs.begin(); o != outputs.end(); ++o) {
    for (const auto& i : inputs) {
      const bool exactInPlace = o->second == inPlaceOut && i.second == inPlaceIn && o->second->data == i.second->data &&
                                o->second->bytes == i.second->bytes;
      if (!exactInPlace && overlaps(*o->second, *i.second))
        args.rangeError(std::string(o->first) + " must not share memory with " + i.first);
    }
    for (auto p = std::next(o); p != outputs.end(); ++p)
      if (overlaps(*o->second, *p->second)) args.rangeError(std::string(o->first) + " must not share memory with " + p->first);
  }
}

size_t checkedProduct(const Args& args, size_t a, size_t b) {
  if (b != 0 && a > SIZE_MAX / b) args.rangeError("shape is too large");
  return a * b;
}

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
#define FASTNORM_OP_METHODS(name, prepare)                      \
  InstanceMethod(#name, &Addon::runSync<&Addon::prepare>), \
      InstanceMethod(#name "Async", &Addon::runAsync<&Addon::prepare>),
                             FASTNORM_BINDING_OPS(FASTNORM_OP_METHODS)
#undef FASTNORM_OP_METHODS
                             InstanceMethod("_setIsa", &Addon::setIsa),
                             InstanceMethod("_copy", &Addon::copy),
                             InstanceMethod("_computeStats", &Addon::computeStats),
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
    Args args(info);
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

  // Bench helper: memcpy(dst, src) split over this instance's threads, the bandwidth yardstick.
  Napi::Value copy(const Napi::CallbackInfo& info) {
    Args args(info);
    const ArrayArg dst = args.array(0, "dst"), src = args.array(1, "src");
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

  // Every op is a `prepare` function: check the JS arguments and resolve them into a kernel
  // call. runSync runs it on the calling thread, runAsync on the libuv pool (a Promise).
  using Prepare = PreparedCall (Addon::*)(const Args&);

  template <Prepare prepare>
  Napi::Value runSync(const Napi::CallbackInfo& info) {
    Args args(info);
    const PreparedCall call = (this->*prepare)(args);
    if (!call()) throw Napi::Error::New(info.Env(), kOutOfMemory);
    return info.Env().Undefined();
  }

  template <Prepare prepare>
  Napi::Value runAsync(const Napi::CallbackInfo& info) {
    Args args(info);
    auto* worker = new KernelWorker(info, (this->*prepare)(args));
    const napi_value promise = worker->promise();
    worker->Queue();
    return Napi::Value(info.Env(), promise);
  }

  template <class T>
  static const T* in(const ArrayArg& a) { return a.present ? static_cast<const T*>(a.data) : nullptr; }
  template <class T>
  static T* out(const ArrayArg& a) { return a.present ? static_cast<T*>(a.data) : nullptr; }

  // The kernel set of x's dtype.
  template <class F>
  PreparedCall forDtype(const ArrayArg& x, F f) {
    return x.type == napi_float32_array ? f(table_->f32, float()) : f(table_->f64, double());
  }

  // (x, rows, cols, weight?, bias?, eps, y, mean?, rstd): LayerNorm (Centered) or RMSNorm.
  template <bool Centered>
  PreparedCall prepareRowNormForward(const Args& args) {
    const ArrayArg x = args.array(0, "x");
    const size_t rows = args.count(1, "rows"), cols = args.count(2, "cols");
    if (checkedProduct(args, rows, cols) != x.length) args.rangeError("x must have rows*cols elements");
    const ArrayArg weight = args.array(3, "weight", x.type, cols, true);
    const ArrayArg bias = Centered ? args.array(4, "bias", x.type, cols, true) : ArrayArg{};
    const double eps = args.eps(5);
    const ArrayArg y = args.array(6, "out.y", x.type, x.length);
    const ArrayArg mean = Centered ? args.array(7, "out.mean", x.type, rows) : ArrayArg{};
    const ArrayArg rstd = args.array(8, "out.rstd", x.type, rows);
    checkNoAliasing(args, {{"out.y", &y}, {"out.mean", &mean}, {"out.rstd", &rstd}},
                    {{"x", &x}, {"weight", &weight}, {"bias", &bias}}, &y, &x);
    return forDtype(x, [&](const auto& set, auto zero) {
      using T = decltype(zero);
      const RowNormForwardArgs<T> a{in<T>(x), rows, cols, in<T>(weight), in<T>(bias), eps, out<T>(y), out<T>(mean), out<T>(rstd)};
      return PreparedCall(Centered ? set.layerNormForward : set.rmsNormForward, a, exec());
    });
  }

  // (dy, x, mean?, rstd, rows, cols, weight?, dx, dweight?, dbias?)
  template <bool Centered>
  PreparedCall prepareRowNormBackward(const Args& args) {
    const ArrayArg x = args.array(1, "x");
    const size_t rows = args.count(4, "rows"), cols = args.count(5, "cols");
    if (checkedProduct(args, rows, cols) != x.length) args.rangeError("x must have rows*cols elements");
    const ArrayArg dy = args.array(0, "dy", x.type, x.length);
    const ArrayArg mean = Centered ? args.array(2, "saved.mean", x.type, rows) : ArrayArg{};
    const ArrayArg rstd = args.array(3, "saved.rstd", x.type, rows);
    const ArrayArg weight = args.array(6, "weight", x.type, cols, true);
    const ArrayArg dx = args.array(7, "out.dx", x.type, x.length);
    const ArrayArg dweight = args.array(8, "out.dweight", x.type, cols, true);
    const ArrayArg dbias = Centered ? args.array(9, "out.dbias", x.type, cols, true) : ArrayArg{};
    checkNoAliasing(args, {{"out.dx", &dx}, {"out.dweight", &dweight}, {"out.dbias", &dbias}},
                    {{"dy", &dy}, {"x", &x}, {"saved.mean", &mean}, {"saved.rstd", &rstd}, {"weight", &weight}});
    return forDtype(x, [&](const auto& set, auto zero) {
      using T = decltype(zero);
      const RowNormBackwardArgs<T> a{in<T>(dy), in<T>(x), in<T>(mean), in<T>(rstd), rows, cols,
                                     in<T>(weight), out<T>(dx), out<T>(dweight), out<T>(dbias)};
      return PreparedCall(Centered ? set.layerNormBackward : set.rmsNormBackward, a, exec());
    });
  }

  // (x, n, c, s, channelsLast, weight?, bias?, runningMean?, runningVar?, momentum, eps, training, y, mean, rstd)
  PreparedCall prepareBatchNormForward(const Args& args) {
    const ArrayArg x = args.array(0, "x");
    const ChannelShape shape = args.channels(1, x);
    const size_t c = shape.c;
    const ArrayArg weight = args.array(5, "weight", x.type, c, true), bias = args.array(6, "bias", x.type, c, true);
    const ArrayArg runningMean = args.array(7, "runningMean", x.type, c, true);
    const ArrayArg runningVar = args.array(8, "runningVar", x.type, c, true);
    const double momentum = args.finite(9, "momentum"), eps = args.eps(10);
    const bool training = args.boolean(11, "training");
    if (runningMean.present != runningVar.present) args.typeError("runningMean and runningVar must be given together");
    if (!training && !runningMean.present) args.typeError("runningMean and runningVar are required in eval mode");
    if (training && shape.n * shape.s < 2 && c > 0) args.rangeError("x: training needs more than 1 value per channel");
    const ArrayArg y = args.array(12, "out.y", x.type, x.length);
    const ArrayArg mean = args.array(13, "out.mean", x.type, c), rstd = args.array(14, "out.rstd", x.type, c);
    checkNoAliasing(args, {{"out.y", &y}, {"out.mean", &mean}, {"out.rstd", &rstd}, {"runningMean", &runningMean}, {"runningVar", &runningVar}},
                    {{"x", &x}, {"weight", &weight}, {"bias", &bias}}, &y, &x);
    return forDtype(x, [&](const auto& set, auto zero) {
      using T = decltype(zero);
      const BatchNormForwardArgs<T> a{in<T>(x), shape, in<T>(weight), in<T>(bias), out<T>(runningMean), out<T>(runningVar),
                                      momentum, eps, training, out<T>(y), out<T>(mean), out<T>(rstd)};
      return PreparedCall(set.batchNormForward, a, exec());
    });
  }

  // (dy, x, mean, rstd, n, c, s, channelsLast, weight?): how both BatchNorm backward calls begin.
  struct BatchNormBackwardInputs {
    ArrayArg x;
    ChannelShape shape;
    ArrayArg dy, mean, rstd, weight;
  };
  static BatchNormBackwardInputs batchNormBackwardInputs(const Args& args) {
    BatchNormBackwardInputs b;
    b.x = args.array(1, "x");
    b.shape = args.channels(4, b.x);
    b.dy = args.array(0, "dy", b.x.type, b.x.length);
    b.mean = args.array(2, "saved.mean", b.x.type, b.shape.c);
    b.rstd = args.array(3, "saved.rstd", b.x.type, b.shape.c);
    b.weight = args.array(8, "weight", b.x.type, b.shape.c, true);
    return b;
  }

  // (dy, x, mean, rstd, n, c, s, channelsLast, weight?, training, dx, dweight?, dbias?)
  PreparedCall prepareBatchNormBackward(const Args& args) {
    const BatchNormBackwardInputs b = batchNormBackwardInputs(args);
    const ArrayArg &x = b.x, &dy = b.dy, &mean = b.mean, &rstd = b.rstd, &weight = b.weight;
    const ChannelShape shape = b.shape;
    const size_t c = shape.c;
    const bool training = args.boolean(9, "training");
    const ArrayArg dx = args.array(10, "out.dx", x.type, x.length);
    const ArrayArg dweight = args.array(11, "out.dweight", x.type, c, true), dbias = args.array(12, "out.dbias", x.type, c, true);
    checkNoAliasing(args, {{"out.dx", &dx}, {"out.dweight", &dweight}, {"out.dbias", &dbias}},
                    {{"dy", &dy}, {"x", &x}, {"saved.mean", &mean}, {"saved.rstd", &rstd}, {"weight", &weight}});
    return forDtype(x, [&](const auto& set, auto zero) {
      using T = decltype(zero);
      const BatchNormBackwardArgs<T> a{in<T>(dy), in<T>(x), in<T>(mean), in<T>(rstd), shape, in<T>(weight), training,
                                       out<T>(dx), out<T>(dweight), out<T>(dbias)};
      return PreparedCall(set.batchNormBackward, a, exec());
    });
  }

  // (x, n, c, s, channelsLast, mean: Float64Array, m2: Float64Array)
  PreparedCall prepareBatchNormStats(const Args& args) {
    const ArrayArg x = args.array(0, "x");
    const ChannelShape shape = args.channels(1, x);
    const ArrayArg mean = args.array(5, "out.mean", napi_float64_array, shape.c);
    const ArrayArg m2 = args.array(6, "out.m2", napi_float64_array, shape.c);
    checkNoAliasing(args, {{"out.mean", &mean}, {"out.m2", &m2}}, {{"x", &x}});
    return forDtype(x, [&](const auto& set, auto zero) {
      using T = decltype(zero);
      const BatchNormStatsArgs<T> a{in<T>(x), shape, out<double>(mean), out<double>(m2)};
      return PreparedCall(set.batchNormStats, a, exec());
    });
  }

  // (x, n, c, s, channelsLast, mean, rstd, weight?, bias?, y)
  PreparedCall prepareBatchNormApply(const Args& args) {
    const ArrayArg x = args.array(0, "x");
    const ChannelShape shape = args.channels(1, x);
    const size_t c = shape.c;
    const ArrayArg mean = args.array(5, "stats.mean", x.type, c), rstd = args.array(6, "stats.rstd", x.type, c);
    const ArrayArg weight = args.array(7, "weight", x.type, c, true), bias = args.array(8, "bias", x.type, c, true);
    const ArrayArg y = args.array(9, "out.y", x.type, x.length);
    checkNoAliasing(args, {{"out.y", &y}}, {{"x", &x}, {"stats.mean", &mean}, {"stats.rstd", &rstd}, {"weight", &weight}, {"bias", &bias}},
                    &y, &x);
    return forDtype(x, [&](const auto& set, auto zero) {
      using T = decltype(zero);
      const BatchNormApplyArgs<T> a{in<T>(x), shape, in<T>(mean), in<T>(rstd), in<T>(weight), in<T>(bias), out<T>(y)};
      return PreparedCall(set.batchNormApply, a, exec());
    });
  }

  // (dy, x, mean, n, c, s, channelsLast, sumDy: Float64Array, sumDyXmu: Float64Array)
  PreparedCall prepareBatchNormBackwardReduce(const Args& args) {
    const ArrayArg x = args.array(1, "x");
    const ChannelShape shape = args.channels(3, x);
    const ArrayArg dy = args.array(0, "dy", x.type, x.length);
    const ArrayArg mean = args.array(2, "saved.mean", x.type, shape.c);
    const ArrayArg sumDy = args.array(7, "out.sumDy", napi_float64_array, shape.c);
    const ArrayArg sumDyXmu = args.array(8, "out.sumDyXmu", napi_float64_array, shape.c);
    checkNoAliasing(args, {{"out.sumDy", &sumDy}, {"out.sumDyXmu", &sumDyXmu}}, {{"dy", &dy}, {"x", &x}, {"saved.mean", &mean}});
    return forDtype(x, [&](const auto& set, auto zero) {
      using T = decltype(zero);
      const BatchNormBackwardReduceArgs<T> a{in<T>(dy), in<T>(x), in<T>(mean), shape, out<double>(sumDy), out<double>(sumDyXmu)};
      return PreparedCall(set.batchNormBackwardReduce, a, exec());
    });
  }

  // (dy, x, mean, rstd, n, c, s, channelsLast, weight?, sumDy, sumDyXmu, count, dx)
  PreparedCall prepareBatchNormBackwardApply(const Args& args) {
    const BatchNormBackwardInputs b = batchNormBackwardInputs(args);
    const ArrayArg &x = b.x, &dy = b.dy, &mean = b.mean, &rstd = b.rstd, &weight = b.weight;
    const ChannelShape shape = b.shape;
    const size_t c = shape.c;
    const ArrayArg sumDy = args.array(9, "sums.sumDy", napi_float64_array, c);
    const ArrayArg sumDyXmu = args.array(10, "sums.sumDyXmu", napi_float64_array, c);
    const double count = args.number(11, "sums.count");
    if (!(count >= 1) || !std::isfinite(count)) args.rangeError("sums.count must be a finite number >= 1");
    const ArrayArg dx = args.array(12, "out.dx", x.type, x.length);
    checkNoAliasing(args, {{"out.dx", &dx}}, {{"dy", &dy}, {"x", &x}, {"saved.mean", &mean}, {"saved.rstd", &rstd}, {"weight", &weight},
                                             {"sums.sumDy", &sumDy}, {"sums.sumDyXmu", &sumDyXmu}});
    return forDtype(x, [&](const auto& set, auto zero) {
      using T = decltype(zero);
      const BatchNormBackwardApplyArgs<T> a{in<T>(dy), in<T>(x), in<T>(mean), in<T>(rstd), shape, in<T>(weight),
                                            in<double>(sumDy), in<double>(sumDyXmu), count, out<T>(dx)};
      return PreparedCall(set.batchNormBackwardApply, a, exec());
    });
  }

  // numGroups ≥ 1 dividing C (InstanceNorm passes C, which may be 0).
  static size_t groupCount(const Args& args, size_t index, const ChannelShape& shape) {
    const size_t groups = args.count(index, "numGroups");
    if (groups < 1 && shape.c > 0) args.rangeError("numGroups must be an integer >= 1");
    if (groups > 0 && shape.c % groups != 0) args.rangeError("numGroups must divide the number of channels C");
    return groups;
  }

  // (x, n, c, s, channelsLast, groups, weight?, bias?, runningMean?, runningVar?, momentum, eps, useInputStats,
  //  y, mean, rstd): GroupNorm, and InstanceNorm (groups = C) with its running statistics.
  PreparedCall prepareGroupNormForward(const Args& args) {
    const ArrayArg x = args.array(0, "x");
    const ChannelShape shape = args.channels(1, x);
    const size_t c = shape.c, groups = groupCount(args, 5, shape);
    const size_t stats = checkedProduct(args, shape.n, groups);
    const ArrayArg weight = args.array(6, "weight", x.type, c, true), bias = args.array(7, "bias", x.type, c, true);
    const ArrayArg runningMean = args.array(8, "runningMean", x.type, c, true);
    const ArrayArg runningVar = args.array(9, "runningVar", x.type, c, true);
    const double momentum = args.finite(10, "momentum"), eps = args.eps(11);
    const bool useInputStats = args.boolean(12, "useInputStats");
    if (runningMean.present != runningVar.present) args.typeError("runningMean and runningVar must be given together");
    if (runningMean.present && groups != c) args.rangeError("runningMean and runningVar need numGroups = C (instance norm)");
    if (!useInputStats && !runningMean.present) args.typeError("runningMean and runningVar are required when useInputStats is false");
    if (useInputStats && runningMean.present && shape.s < 2 && shape.n * c > 0)
      args.rangeError("x: updating running statistics needs more than 1 spatial position");
    const ArrayArg y = args.array(13, "out.y", x.type, x.length);
    const ArrayArg mean = args.array(14, "out.mean", x.type, stats), rstd = args.array(15, "out.rstd", x.type, stats);
    checkNoAliasing(args, {{"out.y", &y}, {"out.mean", &mean}, {"out.rstd", &rstd}, {"runningMean", &runningMean}, {"runningVar", &runningVar}},
                    {{"x", &x}, {"weight", &weight}, {"bias", &bias}}, &y, &x);
    return forDtype(x, [&](const auto& set, auto zero) {
      using T = decltype(zero);
      const GroupNormForwardArgs<T> a{in<T>(x), shape, groups, in<T>(weight), in<T>(bias), out<T>(runningMean), out<T>(runningVar),
                                      momentum, eps, useInputStats, out<T>(y), out<T>(mean), out<T>(rstd)};
      return PreparedCall(set.groupNormForward, a, exec());
    });
  }

  // (dy, x, mean, rstd, n, c, s, channelsLast, groups, weight?, useInputStats, dx, dweight?, dbias?)
  PreparedCall prepareGroupNormBackward(const Args& args) {
    const ArrayArg x = args.array(1, "x");
    const ChannelShape shape = args.channels(4, x);
    const size_t c = shape.c, groups = groupCount(args, 8, shape);
    const size_t stats = checkedProduct(args, shape.n, groups);
    const ArrayArg dy = args.array(0, "dy", x.type, x.length);
    const ArrayArg mean = args.array(2, "saved.mean", x.type, stats), rstd = args.array(3, "saved.rstd", x.type, stats);
    const ArrayArg weight = args.array(9, "weight", x.type, c, true);
    const bool useInputStats = args.boolean(10, "useInputStats");
    const ArrayArg dx = args.array(11, "out.dx", x.type, x.length);
    const ArrayArg dweight = args.array(12, "out.dweight", x.type, c, true), dbias = args.array(13, "out.dbias", x.type, c, true);
    checkNoAliasing(args, {{"out.dx", &dx}, {"out.dweight", &dweight}, {"out.dbias", &dbias}},
                    {{"dy", &dy}, {"x", &x}, {"saved.mean", &mean}, {"saved.rstd", &rstd}, {"weight", &weight}});
    return forDtype(x, [&](const auto& set, auto zero) {
      using T = decltype(zero);
      const GroupNormBackwardArgs<T> a{in<T>(dy), in<T>(x), in<T>(mean), in<T>(rstd), shape, groups, in<T>(weight), useInputStats,
                                       out<T>(dx), out<T>(dweight), out<T>(dbias)};
      return PreparedCall(set.groupNormBackward, a, exec());
    });
  }

  const KernelTable* table_ = nullptr;
  std::string isaWarning_;
  int threads_ = 1;
};

}  // namespace
}  // namespace fastnorm

using fastnorm::Addon;
NODE_API_ADDON(Addon)
