// PubSubClient 2.8's API and observable behaviour, on libmosquitto (see PubSubClient.cpp and
// firmware/host/README.md). Constants keep PubSubClient's names and values.
#pragma once

#include <stdint.h>

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "Arduino.h"
#include "Client.h"
#include "IPAddress.h"

#define MQTT_VERSION_3_1 3
#define MQTT_VERSION_3_1_1 4
#ifndef MQTT_VERSION
#define MQTT_VERSION MQTT_VERSION_3_1_1
#endif
#ifndef MQTT_MAX_PACKET_SIZE
#define MQTT_MAX_PACKET_SIZE 256
#endif
#ifndef MQTT_KEEPALIVE
#define MQTT_KEEPALIVE 15
#endif
#ifndef MQTT_SOCKET_TIMEOUT
#define MQTT_SOCKET_TIMEOUT 15
#endif

#define MQTT_CONNECTION_TIMEOUT -4
#define MQTT_CONNECTION_LOST -3
#define MQTT_CONNECT_FAILED -2
#define MQTT_DISCONNECTED -1
#define MQTT_CONNECTED 0
#define MQTT_CONNECT_BAD_PROTOCOL 1
#define MQTT_CONNECT_BAD_CLIENT_ID 2
#define MQTT_CONNECT_UNAVAILABLE 3
#define MQTT_CONNECT_BAD_CREDENTIALS 4
#define MQTT_CONNECT_UNAUTHORIZED 5

#define MQTT_MAX_HEADER_SIZE 5

#define MQTT_CALLBACK_SIGNATURE std::function<void(char*, uint8_t*, unsigned int)> callback

struct mosquitto;
struct mosquitto_message;

class PubSubClient {
 public:
  PubSubClient();
  explicit PubSubClient(Client& client);
  PubSubClient(IPAddress addr, uint16_t port, Client& client);
  PubSubClient(const char* domain, uint16_t port, Client& client);
  PubSubClient(const char* domain, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client& client);
  ~PubSubClient();
  PubSubClient(const PubSubClient&) = delete;
  PubSubClient& operator=(const PubSubClient&) = delete;

  PubSubClient& setServer(IPAddress ip, uint16_t port);
  PubSubClient& setServer(const char* domain, uint16_t port);
  PubSubClient& setCallback(MQTT_CALLBACK_SIGNATURE);
  PubSubClient& setClient(Client& client);
  PubSubClient& setKeepAlive(uint16_t keepAlive);
  PubSubClient& setSocketTimeout(uint16_t timeout);
  bool setBufferSize(uint16_t size);
  uint16_t getBufferSize() { return bufferSize_; }

  bool connect(const char* id);
  bool connect(const char* id, const char* user, const char* pass);
  bool connect(const char* id, const char* willTopic, uint8_t willQos, bool willRetain,
               const char* willMessage);
  bool connect(const char* id, const char* user, const char* pass, const char* willTopic,
               uint8_t willQos, bool willRetain, const char* willMessage);
  bool connect(const char* id, const char* user, const char* pass, const char* willTopic,
               uint8_t willQos, bool willRetain, const char* willMessage, bool cleanSession);
  void disconnect();

  bool publish(const char* topic, const char* payload);
  bool publish(const char* topic, const char* payload, bool retained);
  bool publish(const char* topic, const uint8_t* payload, unsigned int plength);
  bool publish(const char* topic, const uint8_t* payload, unsigned int plength, bool retained);
  bool subscribe(const char* topic);
  bool subscribe(const char* topic, uint8_t qos);
  bool unsubscribe(const char* topic);
  bool loop();
  bool connected();
  int state() { return state_; }

  // Host side: drop the connection without DISCONNECT (WiFi gone), or stop cleanly (the
  // process is told to stop: publish the will as the broker would, then DISCONNECT).
  void hostDrop();
  void hostStop();
  int hostSocket();
  bool hostPending() const { return !inbox_.empty(); }

 private:
  struct Message {
    std::string topic;
    std::vector<uint8_t> payload;
  };
  static void onConnect(struct mosquitto*, void* self, int rc);
  static void onDisconnect(struct mosquitto*, void* self, int rc);
  static void onMessage(struct mosquitto*, void* self, const struct mosquitto_message* msg);
  void release();
  int sendNow();
  bool transportUp();
  std::string withPrefix(const char* topic) const;
  std::string withoutPrefix(const std::string& topic) const;

  struct mosquitto* mosq_ = nullptr;
  std::string domain_;
  uint16_t port_ = 1883;
  MQTT_CALLBACK_SIGNATURE;
  uint16_t bufferSize_ = MQTT_MAX_PACKET_SIZE;
  uint16_t keepAlive_ = MQTT_KEEPALIVE;
  uint16_t socketTimeout_ = MQTT_SOCKET_TIMEOUT;
  int state_ = MQTT_DISCONNECTED;
  bool linked_ = false;        // the TCP connection is up
  int connack_ = -1;           // CONNACK code of the pending connect (-1: none yet)
  bool lostByKeepalive_ = false;
  std::deque<Message> inbox_;  // received, not yet handed to the callback
  std::string willTopic_, willMessage_;
  uint8_t willQos_ = 0;
  bool willRetain_ = false;
  bool hasWill_ = false;
  std::vector<std::string> filters_;  // the sketch's subscriptions, without the prefix
  std::vector<uint8_t> delivery_;  // the buffer the callback's topic and payload point into
};
