// The Phoenix guide's chat (guides/channels.md), with the official
// phoenix.js served by the node itself. ?room=room:secret and
// ?transport=longpoll pick the room and transport; ?name=NAME is the
// presence key when the socket has no verified user. #presence lists who
// is online in room:lobby with phoenix.js Presence.
(function () {
  const params = new URLSearchParams(window.location.search);
  const room = params.get("room") || "room:lobby";
  const transportName = params.get("transport") || "websocket";
  const status = document.querySelector("#status");
  const roomSelect = document.querySelector("#room");
  const transportSelect = document.querySelector("#transport");
  roomSelect.value = room;
  transportSelect.value = transportName;
  for (const select of [roomSelect, transportSelect]) {
    select.addEventListener("change", () => {
      const next = new URLSearchParams({ room: roomSelect.value, transport: transportSelect.value });
      window.location.search = next.toString();
    });
  }

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  const socketParams = window.userToken ? { token: window.userToken } : {};
  const options = { params: socketParams };
  if (transportName === "longpoll") {
    options.transport = Phoenix.LongPoll;
  }
  const socket = new Phoenix.Socket("/socket", options);
  socket.onOpen(() => setStatus("connected", `connected (${transportName})`));
  socket.onError(() => setStatus("disconnected", "connection lost, reconnecting…"));
  socket.connect();

  const name = params.get("name");
  const channel = socket.channel(room, name ? { name } : {});
  const presenceList = document.querySelector("#presence");
  const presence = new Phoenix.Presence(channel);
  presence.onSync(() => {
    presenceList.replaceChildren(...presence.list((key, { metas }) => {
      const item = document.createElement("li");
      item.dataset.key = key;
      item.dataset.count = String(metas.length);
      const nodes = [...new Set(metas.map((m) => m.node).filter(Boolean))].join(", ");
      item.innerText = `${key}${metas.length > 1 ? ` (${metas.length})` : ""}${nodes ? ` on ${nodes}` : ""}`;
      return item;
    }));
    presenceList.dataset.synced = "true";
  });
  const chatInput = document.querySelector("#chat-input");
  const messagesContainer = document.querySelector("#messages");

  chatInput.addEventListener("keypress", (event) => {
    if (event.key === "Enter" && chatInput.value !== "") {
      channel.push("new_msg", { body: chatInput.value });
      chatInput.value = "";
    }
  });

  channel.on("new_msg", (payload) => {
    const messageItem = document.createElement("p");
    messageItem.innerText = `[${new Date().toLocaleTimeString()}] ${payload.body}`;
    messagesContainer.appendChild(messageItem);
    messagesContainer.scrollTop = messagesContainer.scrollHeight;
  });
  channel.onClose(() => setStatus("left", `left ${room}`));
  channel.onError(() => setStatus("error", `${room}: error, rejoining…`));

  channel.join()
    .receive("ok", () => setStatus("joined", `joined ${room} (${transportName})`))
    .receive("error", (resp) => setStatus("error", `unable to join ${room}: ${resp.reason}`));
})();
