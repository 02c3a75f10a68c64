// The Dashboard App's entry page: wait for Chatwoot's appContext, then open that conversation's sidebar.
import { followAppContext, sidebarUrl } from "./dashboard-app.js";

followAppContext((target) => location.replace(sidebarUrl(target)));
