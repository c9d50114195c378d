// Starts ReDoc on /redoc from the document the page names, with the system's fonts (nothing fetched elsewhere).
(function () {
  "use strict";
  var node = document.getElementById("redoc");
  Redoc.init(node.getAttribute("data-openapi-url"), {
    hideDownloadButton: false,
    theme: { typography: { fontFamily: "system-ui, sans-serif", headings: { fontFamily: "system-ui, sans-serif" } } },
  }, node);
})();
