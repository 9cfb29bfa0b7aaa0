-- store_index.lua: give an item put before the server had a vector index its documents in
-- that index (app/store/vector_index.py, once the index is created). An item already
-- indexed, gone, or whose vectors are not the index's dims is left as it is.
--
-- KEYS[1]  store:items:N      hash  K -> "<created_at µs>:<value JSON>"
-- KEYS[2]  store:vectors:N    hash  K -> the item's embeddings (bytes)
-- KEYS[3]  store:indexed:N    hash  K -> how many vector documents the item has
-- KEYS[4]  store:vindex       string the dims of the server's vector index
-- KEYS[5..]  store:vdoc:J:..:K:N, J = 0, 1, ...: the item's vector documents to write
-- ARGV[1]  N, the namespace (labels joined by ".")
-- ARGV[2]  K, the item's key
-- ARGV[3]  the ``under`` tags of N
-- Returns how many documents were written (0: none to write), or -1 when more keys are
-- needed than were given.
-- uses: lib/vector_docs.lua

local items, vectors, indexed, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ns, key, under = ARGV[1], ARGV[2], ARGV[3]

local embedded = redis.call('HGET', vectors, key)
if not embedded or not redis.call('HGET', items, key) or documents_of(indexed, key) > 0 then
  return 0
end
local documents, size = documents_for(marker, embedded)
if documents > #KEYS - 4 then return -1 end
write_documents(indexed, 5, documents, size, ns, key, under, embedded)
return documents
