// A minimal JSON writer for the tool's --json output: objects, arrays, strings (escaped; bytes
// that are not printable ASCII as \u00XX, so binary keys survive), integers, doubles, booleans.
// Thread safety: none (one writer per output).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pagestore::tools {

class Json {
 public:
  Json& BeginObject() { return Open('{'); }
  Json& EndObject() { return Close('}'); }
  Json& BeginArray() { return Open('['); }
  Json& EndArray() { return Close(']'); }
  // In an object: the next value's name.
  Json& Key(std::string_view name) {
    Comma();
    AppendString(name);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  Json& String(std::string_view s) {
    Comma();
    AppendString(s);
    return *this;
  }
  Json& Uint(std::uint64_t v) {
    Comma();
    out_ += std::to_string(v);
    return *this;
  }
  Json& Int(std::int64_t v) {
    Comma();
    out_ += std::to_string(v);
    return *this;
  }
  Json& Double(double v) {
    Comma();
    out_ += fmt::format("{:.6g}", v);
    return *this;
  }
  Json& Bool(bool v) {
    Comma();
    out_ += v ? "true" : "false";
    return *this;
  }
  Json& Null() {
    Comma();
    out_ += "null";
    return *this;
  }
  // name: value shorthands.
  Json& Field(std::string_view name, std::string_view v) { return Key(name).String(v); }
  Json& Field(std::string_view name, const char* v) { return Key(name).String(v); }
  Json& Field(std::string_view name, std::uint64_t v) { return Key(name).Uint(v); }
  Json& Field(std::string_view name, std::uint32_t v) { return Key(name).Uint(v); }
  Json& Field(std::string_view name, int v) { return Key(name).Int(v); }
  Json& Field(std::string_view name, double v) { return Key(name).Double(v); }
  Json& Field(std::string_view name, bool v) { return Key(name).Bool(v); }

  // The document, with a trailing newline.
  std::string str() const { return out_ + "\n"; }

 private:
  Json& Open(char c) {
    Comma();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  Json& Close(char c) {
    out_ += c;
    first_.pop_back();
    return *this;
  }
  void Comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  void AppendString(std::string_view s) {
    out_ += '"';
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += ch;
      } else if (c >= 0x20 && c < 0x7f) {
        out_ += ch;
      } else {
        out_ += fmt::format("\\u{:04x}", c);
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

// Printable text for a key or value: printable ASCII as is, other bytes as \xNN.
inline std::string Escape(std::string_view s, std::size_t max = 64) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (s.size() > max) out += fmt::format("...({} bytes)", s.size());
  return out;
}

}  // namespace pagestore::tools
