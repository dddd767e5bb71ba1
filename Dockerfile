# The image of `run --executor k8s`: the package installed globally (its CLI the entry point, the
# embedded default pair at /usr/local/lib/node_modules/lightreasoner-wasm/models/default), on the
# shared volume's mount point /data.
#   docker build -t REGISTRY/lightreasoner-wasm:0.1.0 . && docker push REGISTRY/lightreasoner-wasm:0.1.0
FROM node:20-slim AS build
WORKDIR /src
COPY . .
# npm ci builds (prepare: AssemblyScript → Wasm, kernels, TypeScript); pack takes that build as is.
RUN npm ci --no-audit --no-fund && npm pack --ignore-scripts --pack-destination /tmp

FROM node:20-slim
COPY --from=build /tmp/lightreasoner-wasm-*.tgz /tmp/
RUN npm install -g --omit=dev --no-audit --no-fund /tmp/lightreasoner-wasm-*.tgz && rm /tmp/lightreasoner-wasm-*.tgz && npm cache clean --force
WORKDIR /data
ENTRYPOINT ["lightreasoner-wasm"]
