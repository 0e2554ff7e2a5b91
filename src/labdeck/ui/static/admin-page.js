/**
 * The admin page at /admin: the Admin panel on its own, without the dashboard's websocket,
 * so that it keeps working while the server is in maintenance mode.
 */

import * as kit from "./kit.js";
import panel from "./panels/admin.js";

panel.mount(document.getElementById("panel-admin"), { kit, toast: kit.toast, deck: null, id: "admin", title: "Admin" });
