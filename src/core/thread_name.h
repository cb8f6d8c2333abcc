// Names the calling thread as `top -H`, `ps -L`, perf and gdb show it (at most 15
// characters are kept), so that an operator can see which part of a node is
// busy: the Socket.IO thread, the commit writer, a job executor...
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace insightd {

inline void name_this_thread(std::string_view name) {
  const std::string kept(name.substr(0, 15));
  pthread_setname_np(pthread_self(), kept.c_str());
}

// A thread that names itself `name`, then runs `fn`.
template <typename Fn>
std::thread start_named_thread(std::string_view name, Fn&& fn) {
  return std::thread([kept = std::string(name), fn = std::forward<Fn>(fn)]() mutable {
    name_this_thread(kept);
    fn();
  });
}

}  // namespace insightd
