WITH __j AS (SELECT ps_partkey, ps_supplycost * ps_availqty AS __x FROM partsupp, supplier, nation
  WHERE ps_suppkey = s_suppkey AND s_nationkey = n_nationkey AND n_name = 'GERMANY')
SELECT ps_partkey, sum(__x) AS value FROM __j GROUP BY ps_partkey
HAVING sum(__x) > (SELECT sum(__x) * 0.0001000000 FROM __j)
ORDER BY value DESC
