// Errors thrown by berth.node: Node-style system errors carrying .code (the errno name,
// "ENOENT"), .errno (the positive errno number), .syscall and, when one is at fault, .path.
// src/native/index.ts maps them to NativeError.
#ifndef BERTH_ADDON_ERRORS_H
#define BERTH_ADDON_ERRORS_H

#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace berth {

// Builds the error for errno value `err` raised by `syscall` (on `path`, if not null).
inline Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                              const char* path = nullptr) {
  const char* name = strerrorname_np(err);
  const char* desc = strerrordesc_np(err);  // thread-safe, unlike strerror()
  std::string code = name ? name : "E" + std::to_string(err);
  std::string message = code + ": " + (desc ? desc : "unknown error") + ", " + syscall;
  if (path) message += std::string(" '") + path + "'";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (path) error.Set("path", Napi::String::New(env, path));
  return error;
}

// Throws the error for an explicit errno value.
[[noreturn]] inline void ThrowErrnoValue(Napi::Env env, int err, const char* syscall,
                                         const char* path = nullptr) {
  throw ErrnoError(env, err, syscall, path);
}

// Throws the error for the current errno (read before anything else can change it).
[[noreturn]] inline void ThrowErrno(Napi::Env env, const char* syscall,
                                    const char* path = nullptr) {
  int err = errno;
  ThrowErrnoValue(env, err, syscall, path);
}

}  // namespace berth

#endif  // BERTH_ADDON_ERRORS_H
