// A multithreaded C++ program: containers, strings, new/delete and
// exceptions (whose objects libstdc++ allocates with malloc) on four
// threads, with objects handed between threads. Includes memalloc.h as C++
// to check the header there. Run with the override library preloaded.
// Prints "ok <checksum>" on success.
#include "memalloc.h"

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static std::mutex handoff_lock;
static std::vector<std::unique_ptr<std::string>> handoff;

static unsigned long work(unsigned seed) {
    std::map<std::string, std::vector<int>> m;
    unsigned long sum = 0;
    for (unsigned i = 0; i < 40000; i++) {
        std::string key = "key" + std::to_string((i * 2654435761u + seed) % 5000);
        m[key].push_back(static_cast<int>(i));
        if (i % 100 == 0) {
            try {
                throw std::runtime_error(std::string(200, 'x') + key);
            } catch (const std::exception &e) {
                sum += std::string(e.what()).size();
            }
        }
        if (i % 10 == 0) {
            auto s = std::make_unique<std::string>(i % 300, 'a' + i % 26);
            std::lock_guard<std::mutex> g(handoff_lock);
            handoff.push_back(std::move(s));
            if (handoff.size() > 64) {
                // Usually a string another thread allocated.
                sum += handoff.front()->size();
                handoff.erase(handoff.begin());
            }
        }
    }
    for (auto &kv : m) sum += kv.first.size() + kv.second.size();
    return sum;
}

int main() {
    std::vector<unsigned long> sums(4);
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < 4; t++) ts.emplace_back([t, &sums] { sums[t] = work(t); });
    for (auto &t : ts) t.join();
    unsigned long total = 0;
    for (auto s : sums) total += s;
    handoff.clear();
    std::printf("ok %lu\n", total);
    return 0;
}
