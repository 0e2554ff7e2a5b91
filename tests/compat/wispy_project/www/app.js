import { rpc } from "../wispyjs/rpc.js";

const $ = (id) => document.getElementById(id);

$("a").textContent = await rpc.sample.a;
$("sum").textContent = await rpc.sample.test_sum(4, 5);
$("reading").textContent = await rpc.laser.power;
try {
  await rpc.sample.secret;
} catch (err) {
  $("secret").textContent = err.type;
}

rpc.sample.rpcWebsocket.addChannelHandlers({
  "sample/count": (value) => { $("count").textContent = value; },
}, true);
$("channels").textContent = (await rpc.sample.rpcWebsocket.listChannels()).join(" ");

$("set-a").addEventListener("click", async () => {
  rpc.sample.a = Number($("new-a").value);
  $("a").textContent = await rpc.sample.a;
});
$("bump").addEventListener("click", () => rpc.sample.bump());
$("forget").addEventListener("click", () => { delete rpc.laser.label; });
document.body.dataset.ready = "yes";
