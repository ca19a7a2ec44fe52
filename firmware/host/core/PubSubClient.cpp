// PubSubClient's behaviour on libmosquitto: the sketch sees PubSubClient 2.8 (states, size
// limits, one message per loop(), connect blocking until CONNACK); libmosquitto speaks MQTT.
// The broker address, client id and topic prefix come from the environment (host_main.cpp);
// host_mqtt.cpp is the core's side of the clients.
#include "PubSubClient.h"

#include <mosquitto.h>
#include <string.h>

#include <algorithm>

#include "host_core.h"

namespace {

const size_t INBOX_LIMIT = 1000;

void libraryInit() {
  static bool done = false;
  if (!done) {
    mosquitto_lib_init();
    done = true;
  }
}

bool isLinkError(int rc) {
  return rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO ||
         rc == MOSQ_ERR_KEEPALIVE || rc == MOSQ_ERR_PROTOCOL || rc == MOSQ_ERR_CONN_REFUSED;
}

size_t packetSize(size_t remaining) {
  size_t lengthBytes = remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4;
  return 1 + lengthBytes + remaining;
}

}  // namespace

PubSubClient::PubSubClient() { hostcore::clients().push_back(this); }
PubSubClient::PubSubClient(Client&) : PubSubClient() {}
PubSubClient::PubSubClient(IPAddress addr, uint16_t port, Client& client) : PubSubClient(client) {
  setServer(addr, port);
}
PubSubClient::PubSubClient(const char* domain, uint16_t port, Client& client) : PubSubClient(client) {
  setServer(domain, port);
}
PubSubClient::PubSubClient(const char* domain, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client& client)
    : PubSubClient(client) {
  setServer(domain, port);
  setCallback(callback);
}

PubSubClient::~PubSubClient() {
  release();
  auto& clients = hostcore::clients();
  clients.erase(std::remove(clients.begin(), clients.end(), this), clients.end());
}

PubSubClient& PubSubClient::setServer(IPAddress ip, uint16_t port) {
  domain_ = std::to_string(ip[0]) + "." + std::to_string(ip[1]) + "." + std::to_string(ip[2]) + "." +
            std::to_string(ip[3]);
  port_ = port;
  return *this;
}

PubSubClient& PubSubClient::setServer(const char* domain, uint16_t port) {
  domain_ = domain ? domain : "";
  port_ = port;
  return *this;
}

PubSubClient& PubSubClient::setCallback(MQTT_CALLBACK_SIGNATURE) {
  this->callback = callback;
  return *this;
}

PubSubClient& PubSubClient::setClient(Client&) { return *this; }

PubSubClient& PubSubClient::setKeepAlive(uint16_t keepAlive) {
  keepAlive_ = keepAlive;
  return *this;
}

PubSubClient& PubSubClient::setSocketTimeout(uint16_t timeout) {
  socketTimeout_ = timeout;
  return *this;
}

bool PubSubClient::setBufferSize(uint16_t size) {
  if (size == 0) return false;
  bufferSize_ = size;
  return true;
}

bool PubSubClient::connect(const char* id) { return connect(id, NULL, NULL, NULL, 0, false, NULL, true); }

bool PubSubClient::connect(const char* id, const char* user, const char* pass) {
  return connect(id, user, pass, NULL, 0, false, NULL, true);
}

bool PubSubClient::connect(const char* id, const char* willTopic, uint8_t willQos, bool willRetain,
                           const char* willMessage) {
  return connect(id, NULL, NULL, willTopic, willQos, willRetain, willMessage, true);
}

bool PubSubClient::connect(const char* id, const char* user, const char* pass, const char* willTopic,
                           uint8_t willQos, bool willRetain, const char* willMessage) {
  return connect(id, user, pass, willTopic, willQos, willRetain, willMessage, true);
}

bool PubSubClient::connect(const char* id, const char* user, const char* pass, const char* willTopic,
                           uint8_t willQos, bool willRetain, const char* willMessage, bool cleanSession) {
  if (connected()) return true;
  // PubSubClient builds CONNECT in its buffer and gives up (state unchanged) when a string
  // does not fit: fixed header room, protocol name and level, flags, keepalive, then strings.
  size_t length = MQTT_MAX_HEADER_SIZE + 7 + 1 + 2;
  auto fits = [&](const char* s) {
    if (s == NULL) s = "";
    if (length + 2 + strnlen(s, bufferSize_) > bufferSize_) return false;
    length += 2 + strlen(s);
    return true;
  };
  if (!fits(id)) return false;
  if (willTopic && (!fits(willTopic) || !fits(willMessage))) return false;
  if (user && (!fits(user) || (pass && !fits(pass)))) return false;

  if (!hostcore::wifiUp()) {  // no network: the TCP connection cannot be made
    state_ = MQTT_CONNECT_FAILED;
    return false;
  }
  libraryInit();
  release();
  const hostcore::Settings& env = hostcore::settings();
  std::string clientId = env.clientId.empty() ? std::string(id) : env.clientId;
  mosq_ = mosquitto_new(clientId.c_str(), cleanSession, this);
  if (mosq_ == NULL) {
    state_ = MQTT_CONNECT_FAILED;
    return false;
  }
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION,
                       MQTT_VERSION == MQTT_VERSION_3_1 ? MQTT_PROTOCOL_V31 : MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set(mosq_, onConnect);
  mosquitto_disconnect_callback_set(mosq_, onDisconnect);
  mosquitto_message_callback_set(mosq_, onMessage);
  if (user) mosquitto_username_pw_set(mosq_, user, pass);
  hasWill_ = willTopic != NULL;
  if (hasWill_) {
    willTopic_ = withPrefix(willTopic);
    willMessage_ = willMessage ? willMessage : "";
    willQos_ = willQos;
    willRetain_ = willRetain;
    mosquitto_will_set(mosq_, willTopic_.c_str(), (int)willMessage_.size(), willMessage_.data(), willQos,
                       willRetain);
  }
  int keepalive = env.keepalive > 0 ? env.keepalive : keepAlive_;
  if (keepalive < 5) keepalive = 5;  // libmosquitto's minimum
  connack_ = -1;
  lostByKeepalive_ = false;
  if (mosquitto_connect(mosq_, env.mqttHost.c_str(), env.mqttPort, keepalive) != MOSQ_ERR_SUCCESS) {
    release();
    state_ = MQTT_CONNECT_FAILED;
    return false;
  }
  linked_ = true;
  // Wait for CONNACK at most the socket timeout, serving the serial line meanwhile.
  unsigned long start = millis();
  while (connack_ < 0) {
    if (millis() - start >= socketTimeout_ * 1000UL || !linked_) {
      // PubSubClient waits out its socket timeout when the broker closes without CONNACK;
      // the host reports the same state without the wait.
      release();
      state_ = MQTT_CONNECTION_TIMEOUT;
      return false;
    }
    int rc = mosquitto_loop(mosq_, 10, 1);
    if (connack_ < 0 && isLinkError(rc)) linked_ = false;
    hostcore::pump(0);
    if (mosq_ == NULL) {  // dropped while waiting (WiFi went down)
      state_ = MQTT_CONNECTION_TIMEOUT;
      return false;
    }
  }
  if (connack_ == 0) {
    state_ = MQTT_CONNECTED;
    return true;
  }
  state_ = connack_;
  release();
  return false;
}

void PubSubClient::disconnect() {
  if (mosq_ && linked_) {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_write(mosq_, 1);
  }
  release();
  state_ = MQTT_DISCONNECTED;
}

bool PubSubClient::publish(const char* topic, const char* payload) {
  return publish(topic, (const uint8_t*)payload, payload ? strnlen(payload, bufferSize_) : 0, false);
}

bool PubSubClient::publish(const char* topic, const char* payload, bool retained) {
  return publish(topic, (const uint8_t*)payload, payload ? strnlen(payload, bufferSize_) : 0, retained);
}

bool PubSubClient::publish(const char* topic, const uint8_t* payload, unsigned int plength) {
  return publish(topic, payload, plength, false);
}

bool PubSubClient::publish(const char* topic, const uint8_t* payload, unsigned int plength, bool retained) {
  if (!connected()) return false;
  if (bufferSize_ < MQTT_MAX_HEADER_SIZE + 2 + strnlen(topic, bufferSize_) + plength) return false;
  int rc = mosquitto_publish(mosq_, NULL, withPrefix(topic).c_str(), (int)plength, payload, 0, retained);
  if (rc == MOSQ_ERR_SUCCESS) rc = sendNow();
  if (isLinkError(rc)) linked_ = false;
  return rc == MOSQ_ERR_SUCCESS;
}

bool PubSubClient::subscribe(const char* topic) { return subscribe(topic, 0); }

bool PubSubClient::subscribe(const char* topic, uint8_t qos) {
  if (topic == NULL || qos > 1) return false;
  if (bufferSize_ < 9 + strnlen(topic, bufferSize_)) return false;
  if (!connected()) return false;
  int rc = mosquitto_subscribe(mosq_, NULL, withPrefix(topic).c_str(), qos);
  if (rc == MOSQ_ERR_SUCCESS) rc = sendNow();
  if (isLinkError(rc)) linked_ = false;
  if (rc == MOSQ_ERR_SUCCESS && std::find(filters_.begin(), filters_.end(), topic) == filters_.end()) {
    filters_.push_back(topic);
  }
  return rc == MOSQ_ERR_SUCCESS;
}

bool PubSubClient::unsubscribe(const char* topic) {
  if (topic == NULL) return false;
  if (bufferSize_ < 9 + strnlen(topic, bufferSize_)) return false;
  if (!connected()) return false;
  int rc = mosquitto_unsubscribe(mosq_, NULL, withPrefix(topic).c_str());
  if (rc == MOSQ_ERR_SUCCESS) rc = sendNow();
  if (isLinkError(rc)) linked_ = false;
  filters_.erase(std::remove(filters_.begin(), filters_.end(), std::string(topic)), filters_.end());
  return rc == MOSQ_ERR_SUCCESS;
}

// Like PubSubClient: at most one received message per call.
bool PubSubClient::loop() {
  if (!connected()) return false;
  if (!inbox_.empty()) {
    Message msg = std::move(inbox_.front());
    inbox_.pop_front();
    if (callback) {
      // The topic as a C string, the payload after it, as in PubSubClient's buffer.
      delivery_.assign(msg.topic.begin(), msg.topic.end());
      delivery_.push_back(0);
      size_t at = delivery_.size();
      delivery_.insert(delivery_.end(), msg.payload.begin(), msg.payload.end());
      delivery_.push_back(0);
      callback((char*)delivery_.data(), delivery_.data() + at, (unsigned int)msg.payload.size());
    }
  }
  return connected();
}

// Like WiFiClient::connected() under PubSubClient's: the socket is read (into the inbox), so a
// closed connection shows at once; a lost connection turns the state into -3 (-4 after a
// missed ping answer).
bool PubSubClient::connected() {
  if (mosq_ && linked_) {
    int rc = mosquitto_loop(mosq_, 0, 1);
    if (isLinkError(rc)) linked_ = false;
  }
  if (mosq_ == NULL || !linked_) {
    if (state_ == MQTT_CONNECTED) {
      state_ = lostByKeepalive_ ? MQTT_CONNECTION_TIMEOUT : MQTT_CONNECTION_LOST;
      release();
    }
    return false;
  }
  return state_ == MQTT_CONNECTED;
}

// PubSubClient writes a packet before it returns; libmosquitto may leave it queued for the
// next loop, so push it out now.
int PubSubClient::sendNow() {
  int rc = MOSQ_ERR_SUCCESS;
  unsigned long start = millis();
  while (mosq_ && mosquitto_want_write(mosq_) && rc == MOSQ_ERR_SUCCESS) {
    rc = mosquitto_loop_write(mosq_, 1);
    if (millis() - start >= socketTimeout_ * 1000UL) break;
  }
  return isLinkError(rc) ? rc : MOSQ_ERR_SUCCESS;
}

void PubSubClient::onConnect(struct mosquitto*, void* self, int rc) {
  static_cast<PubSubClient*>(self)->connack_ = rc;
}

void PubSubClient::onDisconnect(struct mosquitto*, void* self, int rc) {
  PubSubClient* client = static_cast<PubSubClient*>(self);
  client->linked_ = false;
  if (rc == MOSQ_ERR_KEEPALIVE) client->lostByKeepalive_ = true;
}

void PubSubClient::onMessage(struct mosquitto*, void* self, const struct mosquitto_message* msg) {
  PubSubClient* client = static_cast<PubSubClient*>(self);
  std::string topic = client->withoutPrefix(msg->topic ? msg->topic : "");
  // The packet as the board would receive it (the sketch's topic): larger than the buffer is
  // dropped, as PubSubClient's readPacket does.
  size_t remaining = 2 + topic.size() + (msg->qos > 0 ? 2 : 0) + (size_t)msg->payloadlen;
  if (packetSize(remaining) > client->bufferSize_) return;
  if (client->inbox_.size() >= INBOX_LIMIT) return;
  Message m;
  m.topic = topic;
  const uint8_t* data = static_cast<const uint8_t*>(msg->payload);
  m.payload.assign(data, data + msg->payloadlen);
  client->inbox_.push_back(std::move(m));
}

void PubSubClient::release() {
  if (mosq_) mosquitto_destroy(mosq_);  // closes the socket without DISCONNECT
  mosq_ = NULL;
  linked_ = false;
  inbox_.clear();
}

// "<prefix>/<topic>" with one slash between them: "/pot" -> "p/pot", "status/x" -> "p/status/x".
std::string PubSubClient::withPrefix(const char* topic) const {
  const std::string& prefix = hostcore::settings().topicPrefix;
  std::string t = topic ? topic : "";
  if (prefix.empty()) return t;
  return t.compare(0, 1, "/") == 0 ? prefix + t : prefix + "/" + t;
}

// The topic as the sketch subscribed to it: the prefix taken off, and the joining slash too
// when the sketch's own filter has no leading slash.
std::string PubSubClient::withoutPrefix(const std::string& topic) const {
  const std::string& prefix = hostcore::settings().topicPrefix;
  if (prefix.empty() || topic.compare(0, prefix.size(), prefix) != 0) return topic;
  std::string rest = topic.substr(prefix.size());
  if (rest.compare(0, 1, "/") != 0) return topic;  // another topic that shares the prefix's text
  std::string bare = rest.substr(1);
  bool restMatches = false, bareMatches = false;
  for (const std::string& filter : filters_) {
    bool match = false;
    if (mosquitto_topic_matches_sub(filter.c_str(), rest.c_str(), &match) == MOSQ_ERR_SUCCESS && match) {
      restMatches = true;
    }
    match = false;
    if (mosquitto_topic_matches_sub(filter.c_str(), bare.c_str(), &match) == MOSQ_ERR_SUCCESS && match) {
      bareMatches = true;
    }
  }
  return !restMatches && bareMatches ? bare : rest;
}
