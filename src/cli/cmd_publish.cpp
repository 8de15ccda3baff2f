// wis2mon publish --broker URL [--topic T] [--qos 0|1] [--mqtt-version 3|5] FILE...
//
// Publishes each message of the files (one JSON message, or NDJSON) to one broker and waits
// for the broker's acknowledgements. The topic is --topic, else the message's own "topic"
// member (what `wis2mon sample` writes). For data publishers and tests.
//
// Exit codes: 0 every message acknowledged, 1 some message not published (no topic, refused,
// no answer), 2 usage error, a file that cannot be read, or no connection.
#include <rapidjson/document.h>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "monitor/replay_service.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/mqtt.hpp"

namespace wis2mon::cli {
namespace {

struct PublishArgs {
  std::string broker;
  std::string topic;
  int qos = 1;
  int mqtt_version = 5;
  int timeout = 10;
  std::vector<std::string> files;
};

int run_publish(const PublishArgs& a) {
  BrokerOptions o;
  o.url = a.broker;
  o.qos = a.qos;
  o.mqtt_version = a.mqtt_version;
  o.clean_start = true;
  o.log = [](std::string_view line) { std::cerr << "wis2mon publish: " << line << "\n"; };
  MqttPublisher publisher(o);
  const std::string server = parse_broker_url(a.broker).server_uri;
  publisher.start();
  if (!publisher.wait_connected(std::chrono::seconds(a.timeout))) {
    std::cerr << "wis2mon publish: cannot connect to " << server << ": " << publisher.stats().last_error << "\n";
    return kExitUsage;
  }
  std::size_t published = 0, failed = 0;
  const auto timeout = std::chrono::seconds(a.timeout);
  for (const auto& file : a.files) {
    // One batch per file, in file order; the acknowledgements are awaited together.
    std::vector<std::string> texts, topics, where;
    try {
      for_each_message(file, [&](std::size_t line, std::string_view text) {
        std::string topic = a.topic;
        if (topic.empty()) {
          rapidjson::Document doc;
          doc.Parse(text.data(), text.size());
          if (!doc.HasParseError()) topic = detail::topic_member(doc);
        }
        const std::string source = file + ":" + std::to_string(line);
        if (topic.empty()) {
          std::cerr << "wis2mon publish: " << source << ": no topic (give --topic, or a \"topic\" member)\n";
          ++failed;
          return;
        }
        texts.emplace_back(text);
        topics.push_back(std::move(topic));
        where.push_back(source);
      });
    } catch (const Error& e) {
      std::cerr << "wis2mon publish: " << e.what() << "\n";
      return kExitUsage;
    }
    std::vector<std::pair<std::string_view, std::string_view>> messages;
    for (std::size_t i = 0; i < texts.size(); ++i) messages.emplace_back(topics[i], texts[i]);
    const auto answers = publisher.publish_many(messages, timeout);
    for (std::size_t i = 0; i < answers.size(); ++i) {
      if (answers[i].empty()) {
        ++published;
      } else {
        ++failed;
        std::cerr << "wis2mon publish: " << where[i] << ": " << answers[i] << "\n";
      }
    }
  }
  publisher.stop();
  std::cout << "published " << published << " messages to " << server << " (" << failed << " failed)\n";
  return failed == 0 ? kExitOk : kExitInvalid;
}

}  // namespace

void add_publish_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<PublishArgs>();
  auto* cmd = app.add_subcommand("publish", "Publish notification files to an MQTT broker (acknowledged, QoS 1)");
  cmd->add_option("--broker", args->broker, "mqtt://[user:pass@]host[:port], mqtts://, ws://, wss://")->required();
  cmd->add_option("--topic", args->topic, "Topic of every message (default: each message's \"topic\" member)");
  cmd->add_option("--qos", args->qos, "0 or 1")->check(CLI::Range(0, 1));
  cmd->add_option("--mqtt-version", args->mqtt_version, "5, or 3 for 3.1.1")->check(CLI::IsMember({3, 5}));
  cmd->add_option("--timeout", args->timeout, "Seconds to wait for the connection and for each file's answers")
      ->check(CLI::Range(1, 3600));
  cmd->add_option("files", args->files, "JSON or NDJSON files ('-' for stdin)")->required();
  cmd->callback([&action, args] { action = [args] { return run_publish(*args); }; });
}

}  // namespace wis2mon::cli
