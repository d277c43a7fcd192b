// GraphiQL against this server, sending the session cookie (so `me` and admin queries work).
"use strict";
const fetcher = async (params) => {
  const response = await fetch("/graphql", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params),
  });
  return response.json();
};
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }),
);
