// Starts Swagger UI on /docs from the document the page names. validatorUrl null: the badge would ask a server
// elsewhere to validate the document. The `ApiKey` scheme makes "Authorize" ask for a key; "Try it out" sends it.
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    tryItOutEnabled: false,
    displayRequestDuration: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
  });
})();
