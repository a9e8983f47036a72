// Shared pieces of berth.node: per-file export registration, per-environment data, and the
// small argument and fd helpers every file uses.
#ifndef BERTH_ADDON_MODULE_H
#define BERTH_ADDON_MODULE_H

#include <napi.h>
#include <unistd.h>

#include <string>

namespace berth {

// Per-environment (main thread or Worker) data, set once by module.cc.
struct AddonData {
  Napi::FunctionReference exitWatchConstructor;
};

// Each adds its functions to `exports`.
void RegisterHelperSpawn(Napi::Env env, Napi::Object exports);
void RegisterPty(Napi::Env env, Napi::Object exports);
void RegisterExitWatch(Napi::Env env, Napi::Object exports);
void RegisterFdOps(Napi::Env env, Napi::Object exports);
void RegisterBpfDevice(Napi::Env env, Napi::Object exports);
void RegisterEventfd(Napi::Env env, Napi::Object exports);
void RegisterSafeFs(Napi::Env env, Napi::Object exports);
void RegisterBtrfs(Napi::Env env, Napi::Object exports);
void RegisterNetlink(Napi::Env env, Napi::Object exports);

// Argument i as an int32 (throws a TypeError-like Napi::Error when it is not a number).
inline int IntArg(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::Number>().Int32Value();
}

// Argument i as a bool (JS truthiness).
inline bool BoolArg(const Napi::CallbackInfo& info, size_t i) {
  return info[i].ToBoolean().Value();
}

// Argument i as a UTF-8 string.
inline std::string StringArg(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::String>().Utf8Value();
}

// Owns one file descriptor; closes it unless released (so early throws leak nothing).
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { int fd = fd_; fd_ = -1; return fd; }
  void reset(int fd = -1) { if (fd_ >= 0) ::close(fd_); fd_ = fd; }
 private:
  int fd_;
};

}  // namespace berth

#endif  // BERTH_ADDON_MODULE_H
