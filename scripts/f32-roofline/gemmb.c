/* One BERT layer's products for all-MiniLM shapes at n columns (F32 weights, or BF16 with a third argument bf16): GEMM
 * GFLOP/s at 1 and 2 threads, attention time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "panamax.h"
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *rnd(long n){float*p=aligned_alloc(64,((n*4+63)/64)*64);for(long i=0;i<n;i++)p[i]=(rand()/(float)RAND_MAX-0.5f);return p;}
int main(int argc,char**argv){
  int cols = argc>1?atoi(argv[1]):481, reps = argc>2?atoi(argv[2]):20;
  const int T = argc>3 && !strcmp(argv[3],"bf16") ? PMX_TYPE_BF16 : PMX_TYPE_F32;
  const int shapes[3][2]={{384,384},{1536,384},{384,1536}};
  for (int th=1; th<=2; th++){
    pmx_pool *pool = pmx_pool_create(th);
    for (int s=0;s<3;s++){
      int R=shapes[s][0], K=shapes[s][1];
      float *w=rnd((long)R*K), *x=rnd((long)cols*K), *y=rnd((long)cols*R);
      void *q=malloc((long)R*K*4); pmx_quantize(T,q,w,R,K);
      long pb=pmx_pack_bytes(T,R,K); void *p=aligned_alloc(64,(pb+63)/64*64);
      pmx_pack(pool,T,p,q,R,K); free(q);
      long sb=pmx_matmul_packed_scratch_bytes(T,K,cols); void *scr=sb>0?malloc(sb):NULL;
      double best=1e9;
      for(int r=0;r<reps;r++){double t=now(); pmx_matmul_packed(pool,T,p,R,K,x,cols,y,scr,sb); t=now()-t; if(t<best)best=t;}
      printf("%s threads %d  %4dx%4d x %d cols: %.3f ms  %.1f GFLOP/s\n",T==PMX_TYPE_BF16?"bf16":"f32",th,R,K,cols,best*1e3,2.0*R*K*cols/best/1e9);
      free(w);free(x);free(y);free(p);free(scr);
    }
    /* attention: 13 sequences of 37 rows, 12 heads of 32 */
    int ns=cols/37, L=37, H=12, hd=32; int32_t rows[64]; rows[0]=0; for(int i=0;i<ns;i++)rows[i+1]=rows[i]+L;
    long n=(long)rows[ns]*H*hd; float *q=rnd(n),*k=rnd(n),*v=rnd(n),*o=rnd(n);
    double best=1e9;
    for(int r=0;r<reps;r++){double t=now(); pmx_attention_encoder_f32(pool,o,q,k,v,ns,rows,H,hd,0.17f); t=now()-t; if(t<best)best=t;}
    double fl=4.0*L*L*hd*H*ns;
    printf("threads %d  attention %d seqs x %d rows, %d heads of %d: %.3f ms  %.1f GFLOP/s\n",th,ns,L,H,hd,best*1e3,fl/best/1e9);
    free(q);free(k);free(v);free(o);
    pmx_pool_destroy(pool);
  }
}
