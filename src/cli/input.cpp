#include "cli/input.hpp"

#include <rapidjson/document.h>

#include <fstream>
#include <iostream>

#include "wis2mon/error.hpp"

namespace wis2mon::cli {
namespace {

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

bool complete_json(std::string_view s) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(s.data(), s.size());
  return !d.HasParseError();
}

}  // namespace

void for_each_message(const std::string& file, const std::function<void(std::size_t, std::string_view)>& on_message) {
  std::ifstream fin;
  std::istream* in = &std::cin;
  if (file != "-") {
    fin.open(file, std::ios::binary);
    if (!fin) throw Error(ErrorCode::io, "cannot open " + file);
    in = &fin;
  }
  std::string line;
  std::size_t number = 0;
  while (std::getline(*in, line)) {
    ++number;
    if (!blank(line)) break;
  }
  if (blank(line)) return;  // empty file: no messages
  const std::size_t first = number;
  if (complete_json(line)) {
    do {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!blank(line)) on_message(number, line);
      ++number;
    } while (std::getline(*in, line));
  } else {
    std::string all = line;
    while (std::getline(*in, line)) {
      all += '\n';
      all += line;
    }
    on_message(first, all);
  }
  if (in->bad()) throw Error(ErrorCode::io, "error reading " + file);
}

}  // namespace wis2mon::cli
