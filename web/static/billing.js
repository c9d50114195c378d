// Billing: upgrade through Stripe Checkout, manage through the Customer Portal.
"use strict";
(() => {
  const box = document.getElementById("billing-error");
  const go = (button, path, body) => busy(button, async () => {
    box.hidden = true;
    try {
      const { url } = await api(path, { method: "POST", body });
      window.location.assign(url);
    } catch (e) {
      box.textContent = e.message;
      box.hidden = false;
    }
  });
  document.querySelectorAll("[data-plan]").forEach((button) =>
    button.addEventListener("click", () => go(button, "/creator/billing/checkout", { plan: button.dataset.plan })));
  const portal = document.getElementById("portal");
  if (portal) portal.addEventListener("click", () => go(portal, "/creator/billing/portal"));
})();
