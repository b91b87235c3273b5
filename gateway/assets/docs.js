// /docs: Swagger UI over hop's own OpenAPI document. A file of its own, not an inline
// script, so the page keeps a CSP without 'unsafe-inline' scripts.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
