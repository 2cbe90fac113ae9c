// Swagger UI over the API's OpenAPI document (no inline script: the page has a strict CSP).
window.addEventListener("load", () => {
  window.SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui" });
});
